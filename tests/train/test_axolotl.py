"""The configs against Axolotl itself (in `.venv-train`): its schema accepts every config and rejects broken ones, its
preprocessing trains on exactly the assistant turns, and the CPU smoke training runs end to end."""

import re
from pathlib import Path

import pytest
import yaml

from cursorcore.apps import train
from cursorcore.apps.publish_model import ModelCardParams, prepare_upload
from cursorcore.apps.train_smoke import smoke_samples, write_smoke_dataset

README = train.CONFIG_DIR / "README.md"
BROKEN = {
    "misspelt-option": ({"learnin_rate": 5e-5}, "options unknown to Axolotl: learnin_rate"),
    "misspelt-dataset-option": ({"datasets.roles_to_trian": ["assistant"]}, "datasets.roles_to_trian"),
    "bad-train-on-eos": ({"datasets.train_on_eos": "sometimes"}, "train_on_eos"),
    "missing-template": ({"chat_template_jinja": "train_configs/nowhere.jinja"}, "names missing files"),
}


def fsdp_block() -> dict:
    """The FSDP block the README tells maintainers to use instead of DeepSpeed."""
    section = README.read_text().split("### FSDP instead of DeepSpeed", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, flags=re.DOTALL).group(1))


def write_yaml(path: Path, cfg: dict) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return str(path)


def test_axolotl_accepts_every_config_and_rejects_broken_ones(train_venv, shared, tmp_path):
    """One Axolotl process validates the shipped configs, their resolved copies on local data, their FSDP variants
    from the README, and broken copies (which must fail, each for its own reason)."""
    benchmarks = shared / "benchmarks"
    samples = smoke_samples(benchmarks / "apeval/apeval.json", benchmarks / "humaneval/HumanEvalPlus-v0.1.10.jsonl.gz")
    hub = write_smoke_dataset(tmp_path / "hub", samples[:4])
    names = train.config_names()
    gpu = [name for name in names if not train.is_smoke(name)]
    resolved = [str(train.resolve_config(name, tmp_path / "runs" / name, str(hub))) for name in names]
    fsdp = []
    for name in gpu:
        cfg = {key: value for key, value in train.load_config(name).items() if key != "deepspeed"}
        cfg.update(fsdp_block(), gradient_checkpointing=False)
        fsdp.append(write_yaml(tmp_path / "fsdp" / f"{name}.yaml", cfg))
    broken = {}
    for label, (change, _) in BROKEN.items():
        cfg = train.load_config("qwen2.5-coder-7b")
        for key, value in change.items():
            if key.startswith("datasets."):
                cfg["datasets"][0][key.removeprefix("datasets.")] = value
            else:
                cfg[key] = value
        broken[label] = write_yaml(tmp_path / "broken" / f"{label}.yaml", cfg)

    result = train_venv(
        "-m", "cursorcore.apps.train", "validate", *names, *resolved, *fsdp, *broken.values(), timeout=600
    )
    lines = result.stdout.splitlines()
    passed = {line.removeprefix("ok ") for line in lines if line.startswith("ok ")}
    failed = {line.split(": ", 1)[0].removeprefix("FAILED "): line for line in lines if line.startswith("FAILED ")}
    for name in [*names, *resolved, *fsdp]:
        assert name in passed, f"{name}: {failed.get(name)}\n{result.stderr[-3000:]}"
    for label, path in broken.items():
        assert BROKEN[label][1] in failed[path], failed[path]
    assert result.returncode == 1  # the broken copies fail the command


def test_axolotl_trains_on_exactly_the_assistant_turns(train_venv, shared, tmp_path):
    """`axolotl preprocess` on real rendered samples, then the label check on every tokenized row; and the check
    itself catches a mask that also trains on the prompt."""
    result = train_venv("-m", "cursorcore.apps.train", "prepare", "tiny-cpu", "--out", str(tmp_path), timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    rows = int(re.search(r">> label mask: (\d+) rows train on exactly their assistant turns", result.stdout)[1])
    assert rows >= 150  # of the 164 APEval samples, only those over sequence_len are dropped

    config = tmp_path / "tiny-cpu-wf" / "config.yaml"
    check = f"""
from pathlib import Path
from cursorcore.apps import train_smoke as t
config = Path({str(config)!r})
rows = t.prepared_rows(config.parent / "prepared")
tokenizer, conversations = t.axolotl_tokenizer(config), t.config_conversations(config)
row = rows[0]
assert t.check_rows([row], tokenizer, conversations) == 1
spans = t.supervised_spans(row["input_ids"], row["labels"], tokenizer)
assert spans[0].startswith("<|next_start|>") and spans[-1].endswith("<|next_end|><|im_end|>"), spans
try:
    t.check_rows([{{**row, "labels": list(row["input_ids"])}}], tokenizer, conversations)
except AssertionError as error:
    print("caught:", str(error)[:80])
"""
    result = train_venv("-c", check, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "caught: row 0 trains on" in result.stdout


@pytest.mark.slow
def test_make_train_tiny_cpu_lowers_the_loss_and_answers(train_venv, shared, tmp_path):
    """The whole smoke run, as `make train MODEL=tiny-cpu` runs it."""
    command = ("-m", "cursorcore.apps.train", "run", "tiny-cpu", "--out", str(tmp_path))
    result = train_venv(*command, timeout=1800)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    losses = re.search(r">> loss: first ([\d.]+), last ([\d.]+) over 20 steps", result.stdout)
    assert float(losses[2]) < float(losses[1])
    assert re.search(r">> prompt ends with '.*<\|im_start\|>assistant\\n<\|next_start\|>'", result.stdout)
    answer = re.search(r">> generated answer: (.+)", result.stdout)[1]
    assert len(answer) > 2  # something was generated
    model = tmp_path / "tiny-cpu-wf" / "model"
    assert (model / "model.safetensors").is_file() and (model / "chat_template.jinja").is_file()
    shipped = (train.CONFIG_DIR / "chat_template.jinja").read_text()
    assert (model / "chat_template.jinja").read_text().strip() == shipped.strip()

    params = ModelCardParams.from_run(tmp_path / "tiny-cpu-wf", "org/tiny-cpu", "v0.0.0-smoke", "apache-2.0")
    assert params.steps == 20 and params.last_loss == pytest.approx(float(losses[2]), abs=1e-4)
    upload = prepare_upload(model, params)
    assert "model.safetensors" in upload.files and not [f for f in upload.files if f.startswith("checkpoint-")]
    assert "Trained for 20 optimizer steps" in (model / "README.md").read_text()
