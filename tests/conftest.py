"""Shared test fixtures: where the real benchmark and source data live (../shared beside the repository), and one
real local LLM server and one real sandbox for the whole session."""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[1].parent / "shared"

# The suite never reads or writes the user's Hugging Face caches: a `datasets` cache filled by the user's own builds
# would answer the tests' loads with the user's rows. Set before any test module imports `datasets`, which reads
# these variables once, at import.
TEST_HF_HOME = Path(tempfile.mkdtemp(prefix="cursorcore-tests-hf-"))
for _variable in ("HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "HF_XET_CACHE", "HF_ASSETS_CACHE"):
    os.environ.pop(_variable, None)
os.environ["HF_HOME"] = str(TEST_HF_HOME)


def pytest_unconfigure(config) -> None:
    shutil.rmtree(TEST_HF_HOME, ignore_errors=True)


SLOW_TEST_TIMEOUT = 3000  # seconds; the suite's default (pyproject.toml) is for the tests that are not `slow`


def pytest_collection_modifyitems(config, items) -> None:
    """Slow tests (trainings, whole builds, EvalPlus over a benchmark) take up to tens of minutes: they get a longer
    timeout unless they name their own."""
    for item in items:
        if item.get_closest_marker("slow") and not item.get_closest_marker("timeout"):
            item.add_marker(pytest.mark.timeout(SLOW_TEST_TIMEOUT))


@pytest.fixture(scope="session")
def shared() -> Path:
    """../shared, or a clean skip when a checkout has no shared data beside it."""
    if not SHARED.is_dir():
        pytest.skip("../shared (benchmarks and source data) is not beside this checkout")
    return SHARED


@pytest.fixture(scope="session")
def benchmark_paths(shared: Path) -> dict[str, str]:
    """Local copies of the decontamination benchmarks, so nothing is fetched from the Hub."""
    return {
        "humaneval": str(shared / "benchmarks/humaneval/HumanEvalPlus-v0.1.10.jsonl.gz"),
        "mbpp": str(shared / "benchmarks/mbpp/sanitized-mbpp.json"),
        "apeval": str(shared / "benchmarks/apeval/apeval.json"),
    }


@pytest.fixture(scope="session")
def local_sandbox():
    """One real bubblewrap sandbox (two warm workers) for the whole session."""
    from cursorcore.processing.sandbox import get_sandbox

    with get_sandbox("local", workers=2) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def llm_server(tmp_path_factory):
    """A real llama.cpp server with SmolLM2-135M-Instruct on 127.0.0.1, started once per test session.

    Point code at it with `llm_server.endpoint_config(...)` (an `LLMConfig`) or `llm_server.client()`. It serves one
    request at a time at ~100 tokens/s: keep `max_tokens` small.
    """
    from cursorcore.processing.llm import LlamaCppBackend, LLMConfig

    config = LLMConfig(backend="local", server_log_dir=str(tmp_path_factory.mktemp("llm-server")))
    with LlamaCppBackend(config) as backend:
        yield backend
