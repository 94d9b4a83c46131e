"""Quantization presets and specs (on random weights: no trained model needed)."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.sim.config_file import load_model_config
from edgemoe.sim.fixed_format import FixedFormat
from edgemoe.sim.network import weight_shapes
from edgemoe.sim.quant import (
    QuantError,
    activation_names,
    calibrate,
    int_bits_for,
    required_formats,
)

TINY = load_model_config("tiny")


@pytest.fixture(scope="module")
def weights() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    out = {name: rng.normal(0, 0.2, shape) for name, shape in weight_shapes(TINY).items()}
    out["patch_embed.weight"] *= 5  # beyond the edge-moe preset's <16,0>
    for name in out:
        if name.endswith(("norm1.weight", "norm2.weight")) or name == "norm.weight":
            out[name] += 1.0
    return out


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(4)
    return [rng.integers(0, 256, (64, 128, 3), dtype=np.uint8) for _ in range(2)]


def test_int_bits_hold_the_range() -> None:
    assert int_bits_for(0.74) == 1 and int_bits_for(1.0) == 2 and int_bits_for(7.9) == 4
    assert int_bits_for(3.0, signed=False) == 2 and int_bits_for(0.0) == 1


def test_int16_preset_calibrates_every_tensor(weights, images) -> None:
    spec = calibrate(TINY, weights, images, "int16")
    for name in weight_shapes(TINY):
        fmt = spec.fmt(name)
        assert fmt.width == 16 and (fmt.rounding, fmt.overflow) == ("RND", "SAT")
        assert np.abs(weights[name]).max() <= fmt.max_value + fmt.lsb
    for name in activation_names(TINY):
        assert spec.fmt(name).width in (16, 24)
    assert spec.fmt("pixels") == FixedFormat(8, 0, False, "TRN", "SAT")
    # the attention sum holds 33 ones with the exp's fraction bits: adds are exact
    assert spec.fmt("blocks.0.softmax.sum").int_bits == 6
    assert spec.fmt("blocks.0.softmax.sum").frac_bits == spec.fmt("blocks.0.softmax.exp").frac_bits
    assert spec.notes == ()


def test_edge_moe_preset_is_the_papers_and_says_where_it_cannot_be(weights, images) -> None:
    spec = calibrate(TINY, weights, images, "edge-moe")
    assert spec.fmt("blocks.0.q").cpp_type == "ap_fixed<32,10>"
    # the addends at the features' precision; the query's weights at the paper's <16,2>
    # less the 2 places the folded 1/sqrt(32) moves them (unless they would overflow)
    assert spec.fmt("blocks.0.mlp.fc1.bias").cpp_type == "ap_fixed<32,10>"
    assert spec.fmt("embed.position").cpp_type == "ap_fixed<32,10>"
    assert spec.fmt("blocks.0.attn.k.weight").cpp_type == "ap_fixed<16,2>"
    q = spec.fmt("blocks.0.attn.q.weight")
    needed = int_bits_for(float(np.abs(weights["blocks.0.attn.q.weight"]).max()))
    assert q.width == 16 and q.int_bits == max(0, needed)
    assert spec.fmt("blocks.0.attn.q.bias").cpp_type == "ap_fixed<32,8>"
    assert spec.fmt("blocks.0.norm1.weight").cpp_type == "ap_fixed<16,5>"
    assert spec.fmt("blocks.0.norm1.bias").cpp_type == "ap_fixed<16,5>"
    assert spec.fmt("pixels").cpp_type.startswith("ap_ufixed<8,0")
    assert spec.fmt("patch_embed.weight").int_bits > 0
    assert any("patch_embed.weight" in note and "would overflow" in note for note in spec.notes)


def test_spec_names_what_it_lacks(weights, images) -> None:
    spec = calibrate(TINY, weights, images[:1], "int16")
    assert set(spec.formats) == set(required_formats(TINY))
    with pytest.raises(QuantError, match=r"no format for 'blocks\.9\.q'"):
        spec.fmt("blocks.9.q")


def test_non_finite_and_absurd_weights_are_refused_by_name(weights, images) -> None:
    broken = {**weights, "blocks.0.mlp.fc1.weight": weights["blocks.0.mlp.fc1.weight"].copy()}
    broken["blocks.0.mlp.fc1.weight"][3, 2] = np.nan
    with pytest.raises(QuantError, match=r"weight blocks\.0\.mlp\.fc1\.weight holds nan"):
        calibrate(TINY, broken, images[:1], "int16")
    broken["blocks.0.mlp.fc1.weight"][3, 2] = 1e30
    with pytest.raises(QuantError, match=r"blocks\.0\.mlp\.fc1\.weight: .* integer bits"):
        calibrate(TINY, broken, images[:1], "int16")


def test_bad_presets_and_empty_calibration_are_refused(weights, images) -> None:
    with pytest.raises(QuantError, match="unknown preset 'int8'"):
        calibrate(TINY, weights, images, "int8")
    with pytest.raises(QuantError, match="at least one image"):
        calibrate(TINY, weights, [], "int16")
