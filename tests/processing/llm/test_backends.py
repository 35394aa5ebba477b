"""Backends and server types: what gets launched, and the errors a person sees when it cannot be."""

import asyncio

import pytest
from datatrove.pipeline.inference.run_inference import InferenceConfig

from cursorcore.processing.llm import (
    EndpointBackend,
    LlamaCppBackend,
    LLMConfig,
    ServerStartError,
    TGIBackend,
    make_backend,
)
from cursorcore.processing.llm.runtime import BackendServer, make_inference_server


def server_for(llm, rank):
    """The datatrove server a pipeline task would start (built inside an event loop, as datatrove does)."""

    async def build():
        return make_inference_server(llm, InferenceConfig(server_type=llm.backend, model_name_or_path=llm.model), rank)

    return asyncio.run(build())


def test_make_backend_picks_the_class_of_the_backend():
    assert isinstance(make_backend(LLMConfig()), LlamaCppBackend)
    assert isinstance(make_backend(LLMConfig(backend="tgi", model="bigcode/starcoder2-15b")), TGIBackend)
    endpoint = make_backend(LLMConfig(backend="endpoint", endpoint_url="http://127.0.0.1:8080/v1/", model="m"))
    assert isinstance(endpoint, EndpointBackend)
    assert (endpoint.base_url, endpoint.served_model) == ("http://127.0.0.1:8080", "m")
    with pytest.raises(ValueError, match="spawned per pipeline task"):
        make_backend(LLMConfig(backend="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct"))


def test_tgi_launch_command():
    config = LLMConfig(
        backend="tgi",
        model="bigcode/starcoder2-15b-instruct-v0.1",
        tp=2,
        context_length=8192,
        max_concurrency=512,
        server_args={"quantize": "fp8", "trust-remote-code": True, "disable-custom-kernels": False},
    )
    assert TGIBackend(config).command(3000) == [
        "text-generation-launcher",
        "--model-id",
        "bigcode/starcoder2-15b-instruct-v0.1",
        "--hostname",
        "127.0.0.1",
        "--port",
        "3000",
        "--num-shard",
        "2",
        "--max-total-tokens",
        "8192",
        "--max-input-tokens",
        "8191",
        "--max-concurrent-requests",
        "512",
        "--quantize",
        "fp8",
        "--trust-remote-code",
    ]


def test_tgi_is_a_datatrove_server_type_spawned_per_task(tmp_path):
    llm = LLMConfig(backend="tgi", model="bigcode/starcoder2-15b", server_log_dir=str(tmp_path))
    server = server_for(llm, rank=3)
    assert isinstance(server, BackendServer) and isinstance(server.backend, TGIBackend)
    assert server.backend.log_path == tmp_path / "tgi-rank00003.log"
    assert server.backend.ready_path == "/health"


def test_missing_tgi_launcher_is_a_clear_start_error():
    backend = TGIBackend(LLMConfig(backend="tgi", model="bigcode/starcoder2-15b"))
    with pytest.raises(ServerStartError, match="text-generation-launcher is not on PATH"):
        backend.start()


def test_vllm_without_vllm_installed_names_the_install():
    llm = LLMConfig(backend="vllm", model="Qwen/Qwen2.5-Coder-7B-Instruct")
    with pytest.raises(ImportError, match="pip install"):
        server_for(llm, rank=0)


def test_llama_cpp_command_uses_smollm2_by_default():
    backend = LlamaCppBackend(LLMConfig(context_length=2048, server_args={"n_threads": 2}))
    command = backend.command(8081)
    assert command[1:3] == ["-m", "llama_cpp.server"]
    assert backend.gguf.name == "SmolLM2-135M-Instruct.Q4_1.gguf" and str(backend.gguf) in command
    assert backend.served_model == "SmolLM2-135M-Instruct.Q4_1"
    assert command[command.index("--port") + 1] == "8081" and command[command.index("--host") + 1] == "127.0.0.1"
    assert command[-4:] == ["--n_ctx", "2048", "--n_threads", "2"]


def test_a_server_that_dies_on_start_shows_its_log(tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_text("not a model")
    backend = LlamaCppBackend(LLMConfig(model=str(broken), server_log_dir=str(tmp_path)))
    with pytest.raises(ServerStartError, match=r"exited with code \d+ while starting") as error:
        backend.start()
    message = str(error.value)
    assert str(backend.log_path) in message and "last lines of the log" in message
    assert "broken.gguf" in message.split("last lines of the log")[1]  # the server's own complaint
    assert not backend.alive()


def test_a_missing_model_file_is_reported_before_launch(tmp_path):
    with pytest.raises(ServerStartError, match="GGUF model file not found"):
        LlamaCppBackend(LLMConfig(model=str(tmp_path / "none.gguf"))).start()


def test_a_running_servers_endpoint_config_names_its_server(llm_server):
    config = llm_server.endpoint_config(cache_path="x.sqlite")
    assert (config.backend, config.server, config.server_kind) == ("endpoint", "llama.cpp", "llama.cpp")
    assert config.endpoint_url == llm_server.base_url and config.cache_path == "x.sqlite"
