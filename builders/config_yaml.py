"""Builder configs from YAML: one reader, so every builder turns a misspelt key into the same clear error instead
of a silent default or a bare TypeError, and reads the `executor:` section every builder shares the same way."""

from dataclasses import fields
from pathlib import Path
from typing import Any

import yaml

from cursorcore.builders.executors import ExecutorConfig


def read_config_yaml(config_class: type, path: str | Path) -> dict[str, Any]:
    """The YAML file's mapping of config keys, each checked to be a field of the `config_class` dataclass."""
    path = Path(path)
    values = yaml.safe_load(path.read_text()) or {}
    if not isinstance(values, dict):
        raise ValueError(f"{path}: expected a mapping of config keys")
    unknown = set(values) - {f.name for f in fields(config_class)}
    if unknown:
        raise ValueError(f"{path}: unknown config keys {', '.join(sorted(unknown))}")
    if "executor" in values:
        try:
            values["executor"] = ExecutorConfig.coerce(values["executor"])
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}: {error}") from None
    return values
