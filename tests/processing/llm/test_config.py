"""LLMConfig: one YAML-friendly configuration for every backend."""

import pytest

from cursorcore.processing.llm import LLMConfig


def test_defaults_start_the_embedded_server():
    config = LLMConfig()
    assert (config.backend, config.model, config.cache_path) == ("local", None, None)


def test_endpoint_url_loses_a_trailing_v1():
    for url in (
        "http://127.0.0.1:8080",
        "http://127.0.0.1:8080/",
        "http://127.0.0.1:8080/v1",
        "http://127.0.0.1:8080/v1/",
    ):
        assert LLMConfig(backend="endpoint", endpoint_url=url).endpoint_url == "http://127.0.0.1:8080"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backend": "openai"}, "unknown LLM backend"),
        ({"backend": "endpoint"}, "needs endpoint_url"),
        ({"backend": "tgi"}, "needs model"),
        ({"max_concurrency": 0}, "max_concurrency must be >= 1"),
        ({"max_retries": -1}, "max_retries must be >= 0"),
        ({"request_timeout": 0}, "timeouts must be > 0"),
        ({"temprature": 0.2}, r"unknown LLM config key\(s\) \['temprature'\]"),
    ],
)
def test_invalid_configs_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        LLMConfig.from_dict(values)


def test_yaml_section_round_trip(tmp_path):
    path = tmp_path / "synthesis.yaml"
    path.write_text(
        "llm:\n"
        "  backend: endpoint\n"
        "  endpoint_url: https://my-endpoint.example/v1\n"
        "  model: bigcode/starcoder2-15b-instruct-v0.1\n"
        "  max_concurrency: 256\n"
        "  cache_path: cache/llm-{rank:05d}.sqlite\n"
        "  generation: {temperature: 0.2, top_p: 0.95, max_tokens: 2048}\n"
        "other: ignored\n"
    )
    config = LLMConfig.from_yaml(path)
    assert config.endpoint_url == "https://my-endpoint.example"
    assert config.generation == {"temperature": 0.2, "top_p": 0.95, "max_tokens": 2048}
    assert LLMConfig.from_dict(config.to_dict()) == config


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"backend": "endpoint", "endpoint_url": "http://h", "server": "triton"}, "unknown server 'triton'"),
        ({"backend": "vllm", "model": "m", "server": "tgi"}, "backend 'vllm' runs vllm, not server 'tgi'"),
        ({"endpoint_name": "me/coder"}, "endpoint_name .* needs backend 'endpoint'"),
        ({"overload_wait": 0}, "timeouts must be > 0"),
    ],
)
def test_invalid_server_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        LLMConfig.from_dict(values)


def test_the_server_kind_follows_the_backend():
    assert LLMConfig().server_kind == "llama.cpp"
    assert LLMConfig(backend="tgi", model="m").server_kind == "tgi"
    assert LLMConfig(backend="endpoint", endpoint_url="http://h").server_kind == "auto"
    assert LLMConfig(backend="endpoint", endpoint_url="http://h", server="sglang").server_kind == "sglang"


def test_a_second_models_yaml_section_becomes_an_llm_config():
    section = {"backend": "endpoint", "endpoint_url": "http://questioner:8080/v1", "server": "tgi"}
    config = LLMConfig.coerce(section)
    assert isinstance(config, LLMConfig) and config.endpoint_url == "http://questioner:8080"
    assert LLMConfig.coerce(config) is config and LLMConfig.coerce(None) is None
    with pytest.raises(ValueError, match="unknown LLM config key"):
        LLMConfig.coerce({"backend": "endpoint", "url": "http://questioner"})
    with pytest.raises(TypeError, match="must be a mapping"):
        LLMConfig.coerce("http://questioner")


def test_aievs_questioner_from_yaml_is_an_llm_config_a_backend_can_be_made_of():
    from cursorcore.processing.llm import EndpointBackend, make_backend
    from cursorcore.processing.synthesis.aiev import AIEVConfig

    config = AIEVConfig(questioner={"backend": "endpoint", "endpoint_url": "http://questioner:8080", "model": "q"})
    assert isinstance(config.questioner, LLMConfig)
    backend = make_backend(config.questioner)
    assert isinstance(backend, EndpointBackend) and backend.served_model == "q"
    with pytest.raises(ValueError, match="unknown LLM config key"):
        AIEVConfig(questioner={"backend": "endpoint", "endpoint": "http://questioner:8080"})
