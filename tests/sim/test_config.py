"""Model configs: the shipped ones, and clear errors for impossible ones."""

from __future__ import annotations

import dataclasses
import json

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
        ({"layers": 0}, "layers must be an integer from 1 to 64, got 0"),
        ({"layers": 100_000}, "layers must be an integer from 1 to 64, got 100000"),
        ({"tasks": ("segmentation", "surface")}, "must be distinct names"),
        ({"tasks": ("depth", "depth")}, "must be distinct names"),
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


@pytest.mark.parametrize(("section", "change", "message"), [
    ("accelerator", {"attention_parallel": 64}, "attention_parallel 64 exceeds the 33 tokens"),
    ("accelerator", {"tile_in": 48}, "dim 64 is not a multiple of the linear tile 48x16"),
    ("accelerator", {"attention_heads": 3}, "attention_heads 3 does not divide the 2 heads"),
    ("accelerator", {"attention_heads": 0}, "attention_heads must be an integer from 1 to 256"),
    ("accelerator", {"axi_bits": 96}, r"axi_bits must be one of \[128, 256, 512\]"),
    ("accelerator", {"clock_mhz": float("nan")}, "not a config document of plain values"),
    ("accelerator", {"clock_mhz": 0.001}, "clock_mhz must be a number from 10 to 800"),
    ("model", {"dim": "64"}, r"model\.dim: Input should be a valid integer"),
    ("model", {"name": "tiny\n#define X"}, "config name: 'tiny\\\\n#define X' is not a name"),
    ("model", {"experts": 300}, "experts must be an integer from 1 to 256, got 300"),
    ("model", {"layer_norm_eps": 0.0}, r"layer_norm_eps must be a number in \(0, 0.1\]"),
    ("model", {"layer_norm_eps": "1e-6"}, "layer_norm_eps"),
    ("approximations", {"gelu": {"step_bits": 40}}, r"gelu\.step_bits must be in \[1, 10\]"),
    ("approximations", {"exp": {"table_bits": 6, "frac": 18}}, r"exp\.frac: .*unknown key|"
                                                              r"Unexpected keyword"),
])
def test_a_config_is_checked_whole_when_it_is_read(tmp_path, section: str, change: dict,
                                                   message: str) -> None:
    """Every section, and every rule of the generated hardware at each precision preset:
    what `hls generate` would refuse is refused here, before any training."""
    document = load_config_file("tiny")
    document[section] = {**document.get(section, {}), **change}
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(document))
    with pytest.raises(ConfigError, match=message):
        load_config_file(path)



def test_head_groups_that_take_turns_are_a_power_of_two_wide() -> None:
    """With the heads in groups, a group's values are one memory word of K and V, found
    by the group index alone: 6 heads of 16 side by side (96) cannot take turns, 4 can."""
    import dataclasses

    from edgemoe.sim.config import AcceleratorConfig
    from edgemoe.sim.hardware_rules import design_problems

    config = dataclasses.replace(load_model_config("tiny"), dim=192, heads=12)
    every, six, four = (AcceleratorConfig(attention_heads=h) for h in (None, 6, 4))
    assert design_problems(config, every, 16, 16) == []
    assert design_problems(config, four, 16, 16) == []
    assert design_problems(config, six, 16, 16) == [
        "a head group's 96 values must be a power of two when the head groups take turns"]
