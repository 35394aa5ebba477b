"""Push a model trained by `make train` to the Hub with a model card from `datacards/model_card.md.jinja`.

The card is filled from the run itself, never typed by hand: base model, dataset and hyperparameters from the
resolved Axolotl config the run trained with (`<run>/config.yaml`), steps and loss from the trainer's saved state,
and evaluation results from a JSON file when there are any. Only the data version, the licence and the repository
are given, because the run cannot know them.
"""

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, HfApi, ModelCard, ModelCardData
from huggingface_hub.utils import HFValidationError, filter_repo_objects, validate_repo_id

from cursorcore.apps.train import last_trainer_state, logged_losses
from cursorcore.builders.card import CITATIONS

HYPERPARAMETERS = (
    "learning_rate",
    "lr_scheduler",
    "warmup_steps",
    "num_epochs",
    "max_steps",
    "optimizer",
    "weight_decay",
    "max_grad_norm",
    "micro_batch_size",
    "gradient_accumulation_steps",
    "sequence_len",
    "sample_packing",
    "bf16",
    "seed",
)
EDIT_FORMATS = {"wf": "whole-file (WF)", "lc": "locate-and-change (LC)", "sr": "search-and-replace (SR)"}
# what training leaves in the output folder that is no part of the model
NOT_UPLOADED = ["checkpoint-*", "debug.log", "runs/*"]


@dataclass
class ModelCardParams:
    """Everything the model card says; `from_run` fills it from a training run."""

    repo_id: str
    base_model: str
    dataset: str
    dataset_config: str
    data_version: str
    license: str
    config_name: str
    hyperparameters: dict[str, Any]
    evals: list[EvalResult] = field(default_factory=list)
    steps: int | None = None
    last_loss: float | None = None
    axolotl_version: str = ""

    @classmethod
    def from_run(
        cls, run_dir: Path, repo_id: str, data_version: str, license: str, evals: list[EvalResult] | None = None
    ) -> "ModelCardParams":
        """Read a `make train` run folder: what it trained on, its resolved config and its last checkpoint's state."""
        run = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        cfg = yaml.safe_load((run_dir / "config.yaml").read_text(encoding="utf-8"))
        params = cls(
            repo_id=repo_id,
            base_model=cfg["base_model"],
            dataset=run["dataset"],
            dataset_config=run["dataset_config"],
            data_version=data_version,
            license=license,
            config_name=run["config"],
            hyperparameters={key: cfg[key] for key in HYPERPARAMETERS if key in cfg},
            evals=evals or [],
            axolotl_version=run.get("axolotl", ""),
        )
        state = last_trainer_state(run_dir / "model")
        if state:
            losses = logged_losses(state)
            params.steps, params.last_loss = state["global_step"], losses[-1] if losses else None
        return params


def _on_hub(repo_id: str) -> bool:
    """A Hub repository id, as opposed to the local folder of a smoke run's base model."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        return False
    return "/" in repo_id and not Path(repo_id).exists()


def load_evals(path: Path) -> list[EvalResult]:
    """Evaluation results from JSON: a list of {dataset, name, metric, value[, label]} (label: e.g. "base", "plus")."""
    return [
        EvalResult(
            task_type="text-generation",
            dataset_type=row["dataset"],
            dataset_name=row["name"],
            metric_type=row["metric"],
            metric_value=row["value"],
            metric_name=f"{row['metric']} ({row['label']})" if row.get("label") else None,
        )
        for row in json.loads(path.read_text(encoding="utf-8"))
    ]


def render_card(params: ModelCardParams) -> ModelCard:
    """The model card: Hub metadata (base model, dataset, licence, model-index of the results) and the text."""
    model_name = params.repo_id.split("/")[-1]
    on_hub = _on_hub(params.base_model)
    card_data = ModelCardData(
        model_name=model_name,
        base_model=params.base_model if on_hub else None,
        datasets=[params.dataset],
        license=params.license,
        library_name="transformers",
        pipeline_tag="text-generation",
        tags=["code", "cursorcore", "axolotl"],
        eval_results=params.evals or None,
    )
    template = (files("cursorcore.datacards") / "model_card.md.jinja").read_text(encoding="utf-8")
    return ModelCard.from_template(
        card_data,
        template_str=template,
        model_name=model_name,
        repo_id=params.repo_id,
        base_model=params.base_model,
        base_model_on_hub=on_hub,
        dataset=params.dataset,
        dataset_config=params.dataset_config,
        data_version=params.data_version,
        edit_format=EDIT_FORMATS.get(params.dataset_config, params.dataset_config),
        config_name=params.config_name,
        hyperparameters=params.hyperparameters,
        steps=params.steps,
        last_loss=params.last_loss,
        axolotl_version=params.axolotl_version,
        evals=params.evals,
        citation=CITATIONS["cursorcore"],
    )


@dataclass
class Upload:
    """What `push` sends: the model folder (its card written in) minus the training leftovers."""

    repo_id: str
    folder: Path
    files: list[str]
    private: bool = True


def prepare_upload(model_dir: Path, params: ModelCardParams, private: bool = True) -> Upload:
    """Write the card as the model folder's README.md and list the files that would be uploaded."""
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir} holds no saved model (config.json)")
    render_card(params).save(model_dir / "README.md")
    found = sorted(path.relative_to(model_dir).as_posix() for path in model_dir.rglob("*") if path.is_file())
    uploaded = list(filter_repo_objects(found, ignore_patterns=NOT_UPLOADED))
    return Upload(repo_id=params.repo_id, folder=model_dir, files=uploaded, private=private)


def push(upload: Upload, api: HfApi | None = None) -> str:
    """Create the repository (if needed) and upload the folder in one commit; returns the commit URL."""
    api = api or HfApi()
    api.create_repo(upload.repo_id, repo_type="model", private=upload.private, exist_ok=True)
    commit = api.upload_folder(
        repo_id=upload.repo_id,
        repo_type="model",
        folder_path=upload.folder,
        ignore_patterns=NOT_UPLOADED,
        commit_message=f"Upload {upload.repo_id.split('/')[-1]} (cursorcore make train)",
    )
    return str(getattr(commit, "commit_url", commit))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cursorcore.apps.publish_model", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("run_dir", type=Path, help="a `make train` run folder, e.g. outputs/qwen2.5-coder-7b-wf")
    parser.add_argument("--repo-id", required=True, help="the model repository, e.g. cursorcore/CursorCore-QW2.5-7B")
    parser.add_argument("--data-version", required=True, help="the dataset version trained on, e.g. v1.0.0")
    parser.add_argument("--license", required=True, help="the base model's licence id, e.g. apache-2.0")
    parser.add_argument("--evals", type=Path, help="evaluation results JSON (see load_evals)")
    parser.add_argument("--public", action="store_true", help="create the repository public (default: private)")
    parser.add_argument("--dry-run", action="store_true", help="write the card and list the files; push nothing")
    args = parser.parse_args(argv)
    evals = load_evals(args.evals) if args.evals else []
    params = ModelCardParams.from_run(args.run_dir, args.repo_id, args.data_version, args.license, evals)
    upload = prepare_upload(args.run_dir / "model", params, private=not args.public)
    print(f">> {upload.repo_id} ({'private' if upload.private else 'public'}) <- {upload.folder}:")
    print("\n".join(f"   {name}" for name in upload.files))
    if not args.dry_run:
        print(f">> pushed: {push(upload)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
