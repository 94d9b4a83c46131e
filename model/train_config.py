"""The ``training`` section of a config document, validated: how many images, epochs and
steps, the loss weights, and where your own data lies (else the synthetic scenes)."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import Field, ValidationError

from edgemoe.sim.config import ConfigError
from edgemoe.sim.schema import Record, describe


class TrainConfig(Record):
    """The ``training`` section of a config document."""

    train_images: Annotated[int, Field(ge=1, le=10_000_000)]
    val_images: Annotated[int, Field(ge=1, le=10_000_000)]
    epochs: Annotated[int, Field(ge=1, le=100_000)]
    batch_size: Annotated[int, Field(ge=1, le=65_536)]
    learning_rate: Annotated[float, Field(gt=0, le=10)]
    weight_decay: Annotated[float, Field(ge=0, le=10)]
    balance_loss_weight: Annotated[float, Field(ge=0, le=100)]
    depth_loss_weight: Annotated[float, Field(ge=0, le=100)] = 1.0
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    #: your own data instead of the synthetic scenes: a folder with train/ and val/, each in
    #: FolderDataset's layout (images/, labels/, depths/), or M3ViT's NYUD-v2 or
    #: PASCAL-Context folder (m3vit_folders)
    data: str | None = None

    @classmethod
    def from_dict(cls, data: Any) -> TrainConfig:
        try:
            return cls.model_validate_json(json.dumps(data, allow_nan=False))
        except (TypeError, ValueError) as err:
            if isinstance(err, ValidationError):
                raise ConfigError(describe(err, "training config")) from None
            raise ConfigError(f"training config: not plain values ({err})") from None
