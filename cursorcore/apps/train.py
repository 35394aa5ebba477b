"""Fine-tune the CursorCore model series with Axolotl: `make train MODEL=<name> [DATA=<folder or id>]`.

The YAMLs in `train_configs/<model>/<method>.yaml` are what a maintainer runs as they are; this module writes a
resolved copy of one into a run folder (absolute paths to the shipped chat template and DeepSpeed files, the run's
own output and prepared-data folders, and the data when DATA is given), then runs `axolotl preprocess` and
`axolotl train` on that copy, so the shipped files are never edited. It runs in `.venv-train` (make install-train),
because Axolotl pins its own transformers and datasets; Axolotl itself is imported only to validate configs.
"""

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import yaml

from cursorcore import train_configs
from cursorcore.builders.hub import dataset_folder, split_files

CONFIG_DIR = Path(train_configs.__file__).parent
# shipped configs name their sibling files relative to the repository root, where maintainers launch Axolotl
SHIPPED_PREFIX = "train_configs/"
SHIPPED_KEYS = ("chat_template_jinja", "deepspeed")
DEFAULT_METHOD = "wf"
TINY = "tiny-cpu"
# what `validate` pretends the training machine is: the configs are written for 8 bf16-capable GPUs
TARGET_GPU = {"bf16": True, "fp8": False, "tf32": True, "n_gpu": 8, "compute_capability": "sm_80"}


def config_names() -> list[str]:
    """Every shipped config as `<model>/<method>`."""
    return sorted(f"{path.parent.name}/{path.stem}" for path in CONFIG_DIR.glob("*/*.yaml"))


def config_path(name: str) -> Path:
    """`<model>` (its WF config), `<model>/<method>`, or the path of a YAML file -> that YAML."""
    if name.endswith((".yaml", ".yml")):
        return Path(name)
    model, _, method = name.partition("/")
    path = CONFIG_DIR / model / f"{method or DEFAULT_METHOD}.yaml"
    if not path.is_file():
        raise ValueError(f"no config {name!r}; choose one of: {', '.join(config_names())}")
    return path


def is_smoke(name: str) -> bool:
    """The CPU smoke configs, whose base model and data `make train` builds locally."""
    return config_path(name).parent.name == TINY


def load_config(name: str) -> dict[str, Any]:
    return yaml.safe_load(config_path(name).read_text(encoding="utf-8"))


def shipped_file(value: str) -> str:
    """A `train_configs/...` path as an absolute path into the installed package; other paths unchanged."""
    if value.startswith(SHIPPED_PREFIX):
        return str(CONFIG_DIR / value.removeprefix(SHIPPED_PREFIX))
    return value


def resolve_shipped_files(cfg: dict[str, Any]) -> list[Path]:
    """Point the files a config names (chat template, DeepSpeed JSON) at the installed package; returns them."""
    for key in SHIPPED_KEYS:
        if isinstance(cfg.get(key), str):
            cfg[key] = shipped_file(cfg[key])
    return [Path(cfg[key]) for key in SHIPPED_KEYS if key in cfg]


def point_datasets_at(datasets: list[dict[str, Any]], data: str) -> list[dict[str, Any]]:
    """Swap the configs' Hub dataset for `data`: a local-hub dataset folder (or a hub root), or another Hub id.

    A local folder is read through its parquet shards (`data/<config>/<split>-*.parquet`), so it needs no card.
    """
    given = Path(data)
    if not given.exists():
        return [{**ds, "path": data} for ds in datasets]
    resolved = []
    for ds in datasets:
        folder = given if (given / "data").is_dir() else dataset_folder(ds["path"], hub=given)
        split = ds.get("split", "train")
        files = split_files(folder, ds["name"], split)
        if not files:
            raise FileNotFoundError(f"no {folder}/data/{ds['name']}/{split}-*.parquet")
        local = {key: value for key, value in ds.items() if key != "name"}
        local.update(path=str(folder.resolve()), data_files=[str(f.resolve()) for f in files], ds_type="parquet")
        resolved.append(local)
    return resolved


def axolotl_version() -> str:
    """The installed Axolotl's version ("" where it is not installed, as in the main venv)."""
    try:
        return version("axolotl")
    except PackageNotFoundError:
        return ""


def resolve_config(name: str, run_dir: Path, data: str | None = None, base_model: str | None = None) -> Path:
    """Write the runnable copy of a config to `run_dir/config.yaml` and return its path.

    Beside it, `run.json` records what the run trains on (config, Hub dataset and its config, DATA as given) for the
    model card.
    """
    shipped = config_path(name)
    cfg = load_config(name)
    source = cfg["datasets"][0]
    record = {
        "config": f"{shipped.parent.name}/{shipped.stem}",
        "dataset": data if data and not Path(data).exists() else source["path"],
        "dataset_config": source.get("name"),
        "data": data,
        "axolotl": axolotl_version(),
    }
    resolve_shipped_files(cfg)
    if base_model:
        cfg["base_model"] = base_model
    if data:
        cfg["datasets"] = point_datasets_at(cfg["datasets"], data)
    run_dir = run_dir.resolve()
    cfg["dataset_prepared_path"] = str(run_dir / "prepared")
    cfg["output_dir"] = str(run_dir / "model")
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "run.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    path = run_dir / "config.yaml"
    header = f"# resolved from {shipped} by cursorcore.apps.train; edit the shipped file, not this one\n"
    path.write_text(header + yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def validate(name: str) -> dict[str, Any]:
    """Validate a config with Axolotl's own schema and return Axolotl's normalised config.

    GPU configs are checked against `TARGET_GPU` (bf16, tf32, 8 GPUs), smoke configs against this machine. On top of
    Axolotl's checks, every option must be one Axolotl knows (it ignores unknown keys, so a misspelt option would
    silently fall back to its default) and the files a config names must exist.
    """
    os.environ.setdefault("AXOLOTL_DO_NOT_TRACK", "1")  # importing Axolotl otherwise starts its telemetry
    import torch
    from axolotl.cli.config import gpu_capabilities
    from axolotl.utils.config import merge_input_args, prepare_plugins, validate_config
    from axolotl.utils.dict import DictDefault
    from axolotl.utils.schemas.config import AxolotlConfigWCapabilities
    from axolotl.utils.schemas.datasets import SFTDataset

    cfg = load_config(name)
    missing = [str(path) for path in resolve_shipped_files(cfg) if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"the config names missing files: {', '.join(missing)}")
    if is_smoke(name):
        capabilities, env_capabilities = gpu_capabilities()
    else:
        capabilities, env_capabilities = TARGET_GPU, {"torch_version": torch.__version__.split("+")[0]}
    cfg = DictDefault(cfg)
    prepare_plugins(cfg)
    schema = merge_input_args()[0] if cfg.get("plugins") else AxolotlConfigWCapabilities
    unknown = [key for key in cfg if key not in schema.model_fields]
    unknown += [f"datasets.{key}" for ds in cfg["datasets"] for key in ds if key not in SFTDataset.model_fields]
    if unknown:
        raise ValueError(f"options unknown to Axolotl: {', '.join(unknown)}")
    return validate_config(cfg, capabilities=capabilities, env_capabilities=env_capabilities)


def validate_all(names: Sequence[str]) -> int:
    """Validate each config, print `ok <name>` or `FAILED <name>: <reason>` per config; 1 if any failed."""
    failed = 0
    for name in names:
        try:
            validate(name)
        except Exception as error:  # report every config, not just the first bad one
            failed += 1
            print(f"FAILED {name}: {type(error).__name__}: {' '.join(str(error).split())}", flush=True)
        else:
            print(f"ok {name}", flush=True)
    return 1 if failed else 0


def axolotl_env() -> dict[str, str]:
    """The environment Axolotl runs in: this venv's `bin` first (its launchers call `accelerate`), no telemetry."""
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("AXOLOTL_DO_NOT_TRACK", "1")
    return env


def axolotl(*args: str) -> None:
    """Run the Axolotl CLI of this venv; a failure stops the run with Axolotl's exit code."""
    command = [str(Path(sys.executable).parent / "axolotl"), *args]
    print(">>", " ".join(command), flush=True)
    subprocess.run(command, check=True, env=axolotl_env())


def launcher() -> str:
    """`accelerate` (every visible GPU) on a GPU machine; the plain `python` launcher on a CPU-only one."""
    import torch

    return "accelerate" if torch.cuda.is_available() else "python"


def last_trainer_state(model_dir: Path) -> dict[str, Any] | None:
    """The trainer state (steps, logged losses) saved with the run's last checkpoint, if it saved one."""
    states = sorted(model_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: int(p.parent.name.split("-")[1]))
    return json.loads(states[-1].read_text(encoding="utf-8")) if states else None


def logged_losses(state: dict[str, Any]) -> list[float]:
    return [entry["loss"] for entry in state["log_history"] if "loss" in entry]


def prepare(name: str, out: Path, data: str | None = None) -> Path:
    """Resolve a config into `out/<model>-<method>/` and run `axolotl preprocess`; returns the resolved config.

    For a smoke config the tiny base model (and, without `data`, the dataset) is built first, and the tokenized
    rows must train on exactly their assistant turns.
    """
    from cursorcore.apps import train_smoke

    path = config_path(name)
    run_dir = out / f"{path.parent.name}-{path.stem}"
    base_model = None
    if is_smoke(name):
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # everything it loads is local: never wait on the network
        if data is None:
            data = str(train_smoke.write_smoke_dataset(run_dir / "hub", train_smoke.smoke_samples(), (path.stem,)))
        base_model = str(train_smoke.build_tiny_model(run_dir / "base-model").resolve())
    config = resolve_config(name, run_dir, data, base_model)
    axolotl("preprocess", str(config))
    if is_smoke(name):
        rows = train_smoke.check_label_mask(config)
        print(f">> label mask: {rows} rows train on exactly their assistant turns", flush=True)
    return config


def run(name: str, out: Path, data: str | None = None) -> Path:
    """`prepare`, then `axolotl train`; a smoke run must also lower its loss and answer in the CursorCore format."""
    from cursorcore.apps import train_smoke

    config = prepare(name, out, data)
    axolotl("train", str(config), "--launcher", launcher())
    model_dir = config.parent / "model"
    if is_smoke(name):
        state = last_trainer_state(model_dir)
        if state is None:
            raise FileNotFoundError(f"no checkpoint-*/trainer_state.json under {model_dir}")
        train_smoke.check_trained(model_dir, config_path(name).stem, logged_losses(state))
    return model_dir


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cursorcore.apps.train", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the shipped configs")
    check = commands.add_parser("validate", help="validate configs with Axolotl's schema (default: all shipped)")
    check.add_argument("names", nargs="*", help="config names or YAML paths")
    for command, text in (("prepare", "resolve one config and run axolotl preprocess"), ("run", "prepare and train")):
        sub = commands.add_parser(command, help=text)
        sub.add_argument("name", help="<model> (WF) or <model>/<method>, e.g. qwen2.5-coder-7b or yi-coder-1.5b/lc")
        sub.add_argument("--data", help="local-hub dataset folder (or hub root), or a Hub dataset id")
        sub.add_argument("--out", type=Path, default=Path("outputs"), help="runs go to OUT/<model>-<method>/")
    args = parser.parse_args(argv)
    if args.command == "list":
        print("\n".join(config_names()))
        return 0
    if args.command == "validate":
        return validate_all(args.names or config_names())
    step = prepare if args.command == "prepare" else run
    try:
        print(f">> done: {step(args.name, args.out, args.data)}")
    except subprocess.CalledProcessError as error:  # Axolotl has printed why
        print(f"!! {' '.join(error.cmd)} exited with {error.returncode}", file=sys.stderr)
        return error.returncode
    return 0


if __name__ == "__main__":
    sys.exit(main())
