"""`processing/llm/runtime.py` is the one module that reaches into datatrove's private inference API. These are the
exact names and signatures it relies on: a datatrove release that changes any of them fails here, by name, before
a synthesis run fails in a task log."""

import inspect

import pytest
from datatrove.pipeline.inference.run_inference import InferenceConfig, InferenceRunner
from datatrove.pipeline.inference.servers import InferenceServer

from cursorcore.processing.llm import runtime

RUNNER_HOOKS = {
    "_init_server": ["self", "rank"],
    "_cached_request": [
        "self",
        "payload",
        "semaphore",
        "server",
        "doc_id",
        "rollout_idx",
        "chunk_index",
        "request_counters",
    ],
    "run_async": ["self", "data_gen", "rank"],
}
SERVER_HOOKS = {
    "__init__": ["self", "config", "rank"],
    "_make_request": ["self", "payload"],
    "make_request": ["self", "payload"],
    "_wait_until_ready": ["self", "max_attempts", "delay_sec"],
    "start_server": ["self"],
    "monitor_health": ["self"],
    "server_cleanup": ["self"],
    "get_base_url": ["self"],
}


@pytest.mark.parametrize(("cls", "hooks"), [(InferenceRunner, RUNNER_HOOKS), (InferenceServer, SERVER_HOOKS)])
def test_the_private_hooks_the_runtime_overrides_keep_their_signatures(cls, hooks):
    for name, parameters in hooks.items():
        assert hasattr(cls, name), f"datatrove's {cls.__name__} has no {name} any more"
        assert list(inspect.signature(getattr(cls, name)).parameters) == parameters, f"{cls.__name__}.{name}"


def test_the_runtime_overrides_only_the_hooks_checked_here():
    """A new override of a private datatrove name must be added to this contract."""
    for ours, theirs, hooks in [
        (runtime.RolloutRunner, InferenceRunner, RUNNER_HOOKS),
        (runtime._ClientServer, InferenceServer, SERVER_HOOKS),
        (runtime.BackendServer, InferenceServer, SERVER_HOOKS),
    ]:
        private = {
            name
            for name in vars(ours)
            if name.startswith("_") and not name.startswith("__") and name != "_abc_impl" and hasattr(theirs, name)
        }
        assert private <= set(hooks), f"{ours.__name__} overrides unchecked private names {private - set(hooks)}"


def test_the_checkpoint_folder_is_where_the_runtime_reads_it(tmp_path):
    from datatrove.pipeline.writers import JsonlWriter

    async def rollout(document, generate):
        return None

    runner = InferenceRunner(
        rollout,
        InferenceConfig(server_type="endpoint", model_name_or_path="m", endpoint_url="http://127.0.0.1:1"),
        JsonlWriter(str(tmp_path / "out"), output_filename="${rank}_chunk_${chunk_index}.jsonl"),
        checkpoints_local_dir=str(tmp_path / "ckpt"),
        records_per_chunk=10,
    )
    assert runner.checkpoint_manager.checkpoints_local_dir == str(tmp_path / "ckpt")
