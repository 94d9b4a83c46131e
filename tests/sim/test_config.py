"""Model configs: the shipped ones, and clear errors for impossible ones."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from edgemoe.sim.config import ConfigError, ModelConfig
from edgemoe.sim.config_file import available_configs, load_config_file, load_model_config


def test_shipped_configs() -> None:
    assert {"tiny", "m3vit-s"} <= set(available_configs())
    tiny, small = load_model_config("tiny"), load_model_config("m3vit-s")
    assert (tiny.tokens, tiny.grid, tiny.moe_layers, tiny.head_dim) == (33, (4, 8), (1, 3), 32)
    assert (small.tokens, small.dim, small.heads, small.experts, small.top_k) == (129, 192, 3,
                                                                                 16, 2)
    assert small.moe_layers == (1, 3, 5, 7, 9, 11)
    assert "training" in load_config_file("tiny")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"heads": 3}, "dim 64 is not divisible by heads 3"),
        ({"top_k": 5}, "top_k 5 is more than the 4 experts"),
        ({"image_width": 120}, "image 64x120 is not divisible by the patch size 16"),
        ({"layers": 0}, "layers must be a positive integer"),
        ({"tasks": ("segmentation", "normals")}, "must be distinct names"),
    ],
)
def test_invalid_configs_fail_with_a_clear_message(change: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        dataclasses.replace(load_model_config("tiny"), **change)


def test_files_by_path_and_unknown_names(tmp_path) -> None:
    document = load_config_file("tiny")
    document["model"]["name"] = "mine"
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(document))
    assert load_model_config(path).name == "mine"
    with pytest.raises(ConfigError, match="no config named 'huge'"):
        load_model_config("huge")
    with pytest.raises(ConfigError, match="unknown keys \\['depth'\\]"):
        ModelConfig.from_dict({**document["model"], "depth": 3})
