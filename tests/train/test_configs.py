"""The shipped Axolotl configs say the CursorCore recipe, in one fixed layout, and `make train` resolves them into
runnable copies without touching them."""

import json
import re
from pathlib import Path

import pytest
import yaml

from cursorcore.apps import train
from cursorcore.apps.train_smoke import smoke_samples, write_smoke_dataset
from cursorcore.tokens import IM_END, SPECIAL_TOKENS

SERIES = {
    "deepseek-coder-1.3b": ("deepseek-ai/deepseek-coder-1.3b-base", ("wf", "lc", "sr")),
    "deepseek-coder-6.7b": ("deepseek-ai/deepseek-coder-6.7b-base", ("wf",)),
    "yi-coder-1.5b": ("01-ai/Yi-Coder-1.5B", ("wf", "lc", "sr")),
    "yi-coder-9b": ("01-ai/Yi-Coder-9B", ("wf",)),
    "qwen2.5-coder-1.5b": ("Qwen/Qwen2.5-Coder-1.5B", ("wf", "lc", "sr")),
    "qwen2.5-coder-7b": ("Qwen/Qwen2.5-Coder-7B", ("wf",)),
}
GPU_CONFIGS = [f"{model}/{method}" for model, (_, methods) in SERIES.items() for method in methods]
REFERENCE = "qwen2.5-coder-7b/wf"


def keys_and_sections(name: str) -> tuple[list[str], list[str]]:
    text = train.config_path(name).read_text()
    return list(yaml.safe_load(text)), re.findall(r"^# ---- (.+?) ", text, flags=re.MULTILINE)


def test_every_model_of_the_series_has_its_configs():
    assert train.config_names() == sorted([*GPU_CONFIGS, "tiny-cpu/wf"])


@pytest.mark.parametrize("name", GPU_CONFIGS)
def test_config_says_the_cursorcore_recipe(name):
    model, _, method = name.partition("/")
    cfg = train.load_config(name)
    assert cfg["base_model"] == SERIES[model][0]
    assert (cfg["learning_rate"], cfg["lr_scheduler"], cfg["num_epochs"]) == (5e-5, "cosine", 2)
    assert cfg["sample_packing"] and cfg["attn_implementation"] == "flash_attention_2"
    assert cfg["bf16"] is True and cfg["excess_length_strategy"] == "drop"
    assert cfg["chat_template"] == "jinja" and cfg["chat_template_jinja"] == "train_configs/chat_template.jinja"
    assert cfg["special_tokens"] == {"eos_token": IM_END, "additional_special_tokens": list(SPECIAL_TOKENS)}
    assert cfg["resize_token_embeddings_to_32x"] and cfg["mean_resizing_embeddings"]
    [dataset] = cfg["datasets"]
    assert dataset == {
        "path": "cursorcore/programming-instruct",
        "name": method,
        "split": "train",
        "type": "chat_template",
        "field_messages": "messages",
        "message_property_mappings": {"role": "role", "content": "content"},
        "roles_to_train": ["assistant"],
        "train_on_eos": "turn",
    }
    assert Path(train.shipped_file(cfg["deepspeed"])).is_file()
    assert cfg["output_dir"] == f"outputs/{model}-{method}/model"


@pytest.mark.parametrize("name", [*GPU_CONFIGS, "tiny-cpu/wf"])
def test_configs_share_one_key_order_and_sections(name):
    keys, sections = keys_and_sections(name)
    reference_keys, reference_sections = keys_and_sections(REFERENCE)
    if name in GPU_CONFIGS:
        assert (keys, sections) == (reference_keys, reference_sections)
    else:  # the CPU config leaves out the GPU-only options but keeps the order of the rest
        shared = [key for key in keys if key in reference_keys]
        assert shared == [key for key in reference_keys if key in shared]
        assert sections == [s for s in reference_sections if s in sections] and "multi-GPU" not in sections


def test_readme_lists_every_config_with_its_command():
    readme = (train.CONFIG_DIR / "README.md").read_text()
    for name in GPU_CONFIGS:
        model, _, method = name.partition("/")
        command = f"make train MODEL={model}" + ("" if method == "wf" else f"/{method}")
        assert command in readme, command
    assert "make train MODEL=tiny-cpu" in readme


@pytest.fixture(scope="module")
def local_hub(shared, tmp_path_factory) -> Path:
    benchmarks = shared / "benchmarks"
    samples = smoke_samples(benchmarks / "apeval/apeval.json", benchmarks / "humaneval/HumanEvalPlus-v0.1.10.jsonl.gz")
    hub = tmp_path_factory.mktemp("hub")
    write_smoke_dataset(hub, samples[:8])
    return hub


@pytest.mark.parametrize("given", ["dataset folder", "hub root"])
def test_resolved_copy_reads_a_local_hub_and_leaves_the_shipped_file_alone(local_hub, tmp_path, given):
    shipped = train.config_path("yi-coder-1.5b/lc")
    before = shipped.read_bytes()
    folder = local_hub / "datasets/cursorcore/programming-instruct"
    data = str(folder if given == "dataset folder" else local_hub)
    resolved = train.resolve_config("yi-coder-1.5b/lc", tmp_path / "run", data)
    assert shipped.read_bytes() == before
    cfg = yaml.safe_load(resolved.read_text())
    [dataset] = cfg["datasets"]
    assert "name" not in dataset and dataset["ds_type"] == "parquet"
    assert dataset["data_files"] == [str(folder / "data/lc/train-00000-of-00001.parquet")]
    assert Path(cfg["chat_template_jinja"]).is_file() and Path(cfg["deepspeed"]).name == "zero2.json"
    assert cfg["output_dir"] == str(tmp_path / "run/model")
    assert cfg["dataset_prepared_path"] == str(tmp_path / "run/prepared")
    run = json.loads((tmp_path / "run/run.json").read_text())
    assert run["config"] == "yi-coder-1.5b/lc" and run["dataset"] == "cursorcore/programming-instruct"
    assert run["dataset_config"] == "lc" and run["data"] == data


def test_resolved_copy_can_train_on_another_hub_dataset(tmp_path):
    resolved = train.resolve_config("qwen2.5-coder-7b", tmp_path, "someone/programming-instruct")
    cfg = yaml.safe_load(resolved.read_text())
    assert cfg["datasets"][0]["path"] == "someone/programming-instruct" and cfg["datasets"][0]["name"] == "wf"
    assert json.loads((tmp_path / "run.json").read_text())["dataset"] == "someone/programming-instruct"


def test_a_missing_split_is_an_error_not_an_empty_run(tmp_path):
    with pytest.raises(FileNotFoundError, match="data/wf/train"):
        train.resolve_config("qwen2.5-coder-7b", tmp_path, str(tmp_path))


def test_unknown_config_names_the_choices():
    with pytest.raises(ValueError, match=re.escape("qwen2.5-coder-7b/wf")):
        train.config_path("qwen2.5-coder-70b")
