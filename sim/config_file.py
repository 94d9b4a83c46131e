"""Config documents (``configs/*.yaml`` or any YAML/JSON file with the same sections),
checked whole when they are read.

A document has a ``model`` section (``ModelConfig``), optional ``accelerator`` and
``approximations`` sections (``AcceleratorConfig``, the tables' ``Tables``) and a
``training`` section that ``edgemoe.model`` reads. Reading one validates every section's
keys, types and ranges and applies every rule of the generated hardware
(``hardware_rules``) at each precision preset, so a config that some later stage would
refuse is refused here, by name.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError, model_validator

from .approx import Tables
from .config import AcceleratorConfig, ConfigError, ModelConfig
from .hardware_rules import check_config
from .schema import Record, describe

CONFIG_DIR = Path(__file__).parent / "configs"
MAX_CONFIG_BYTES = 1 << 20


class ConfigDocument(Record):
    model: ModelConfig
    accelerator: AcceleratorConfig = AcceleratorConfig()
    approximations: Tables = Tables()
    training: dict[str, Any] = {}  # noqa: RUF012 - read by edgemoe.model (TrainConfig)

    @model_validator(mode="after")
    def _buildable(self) -> ConfigDocument:
        check_config(self.model, self.accelerator)
        return self


def read_document(document: Any, source: str) -> ConfigDocument:
    """``document`` (as parsed from YAML or JSON) checked whole, or a ConfigError."""
    try:
        text = json.dumps(document, allow_nan=False)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{source}: not a config document of plain values ({err})") from None
    try:
        return ConfigDocument.model_validate_json(text)
    except ValidationError as err:
        raise ConfigError(describe(err, source)) from None


def available_configs() -> list[str]:
    return sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))


def load_config_file(name_or_path: str | Path) -> dict[str, Any]:
    """The whole config document by name or path as plain values, checked
    (``read_document``)."""
    return _read_config(name_or_path)[0]


def load_config(name_or_path: str | Path) -> ConfigDocument:
    """The whole config document by name or path, checked and typed."""
    return _read_config(name_or_path)[1]


def _read_config(name_or_path: str | Path) -> tuple[dict[str, Any], ConfigDocument]:
    path = Path(name_or_path)
    if not path.suffix:
        path = CONFIG_DIR / f"{name_or_path}.yaml"
        if not path.is_file():
            raise ConfigError(f"no config named {str(name_or_path)!r}; known configs: "
                              f"{', '.join(available_configs())} (or give a .yaml/.json path)")
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    if path.stat().st_size > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path} is {path.stat().st_size} bytes; a config is a few hundred")
    try:
        text = path.read_text()
        document = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (UnicodeDecodeError, ValueError, yaml.YAMLError) as err:
        raise ConfigError(f"{path} is not valid {'JSON' if path.suffix == '.json' else 'YAML'}"
                          f": {str(err).splitlines()[0]}") from None
    if not isinstance(document, dict) or "model" not in document:
        raise ConfigError(f"{path}: a config needs a 'model' section")
    return document, read_document(document, str(path))


def load_model_config(name_or_path: str | Path) -> ModelConfig:
    return load_config(name_or_path).model


def load_accelerator_config(name_or_path: str | Path) -> AcceleratorConfig:
    return load_config(name_or_path).accelerator
