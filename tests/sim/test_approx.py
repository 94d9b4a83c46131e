"""The approximations: their error targets over every representable input, and their
integer-only evaluation against a literal scalar transcription."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.sim import FixedArray, FixedFormat
from edgemoe.sim.approx import (
    ExpSpec,
    GeluSpec,
    ReciprocalSpec,
    RsqrtSpec,
    default_domains,
    measure,
)

DOMAINS = {d.name: d for d in default_domains()}


def test_exp_error_is_within_2_to_the_minus_12() -> None:
    error = measure(DOMAINS["exp"])
    assert error.abs_error.max() <= 2**-12
    assert error.outputs[error.inputs == 0.0] == 1.0  # exp(0) is exactly one


@pytest.mark.parametrize("name", ["reciprocal", "rsqrt"])
def test_reciprocal_and_rsqrt_relative_error_within_2_to_the_minus_12(name: str) -> None:
    error = measure(DOMAINS[name])
    assert error.rel_error.max() <= 2**-12, f"{name}: {error.rel_error.max():.3g}"


def test_gelu_error_within_1e4_plus_half_an_output_lsb() -> None:
    domain = DOMAINS["gelu"]
    error = measure(domain)
    assert error.abs_error.max() <= 1e-4 + domain.spec.output_fmt.lsb / 2


def test_every_input_is_covered() -> None:
    """16-bit inputs: the grid is every representable value in range, none skipped."""
    error = measure(DOMAINS["gelu"])
    assert len(error.inputs) == 2**16
    assert np.all(np.diff(error.inputs) == DOMAINS["gelu"].spec.input_fmt.lsb)


def scalar_exp(spec: ExpSpec, raw: int) -> int:
    """The exp datapath as one would write it for one value in C."""
    fx, ft, tb = spec.input_fmt.frac_bits, spec.frac_bits, spec.table_bits
    t = (-min(raw, 0) * spec.log2e_raw + (1 << (fx - 1))) >> fx
    whole, fraction = t >> ft, t & ((1 << ft) - 1)
    index, offset = fraction >> (ft - tb), fraction & ((1 << (ft - tb)) - 1)
    table = spec.table().tolist()
    value = (table[index] << (ft - tb)) - (table[index] - table[index + 1]) * offset
    value >>= min(whole, 62)
    frac = ft + ft - tb
    return FixedArray(np.array([value]), FixedFormat(64, 64 - frac)).cast(
        spec.output_fmt).raw[0] if value < 2**62 else spec.output_fmt.max_raw


def test_exp_matches_a_scalar_transcription() -> None:
    spec = DOMAINS["exp"].spec
    raw = np.arange(spec.input_fmt.min_raw, 1, 7)
    got = spec(FixedArray(raw, spec.input_fmt)).raw
    assert got.tolist() == [scalar_exp(spec, int(r)) for r in raw]


@pytest.mark.parametrize("spec", [
    ExpSpec(FixedFormat(12, 5), FixedFormat(12, 1, False, "RND", "SAT"), table_bits=4),
    ReciprocalSpec(FixedFormat(16, 10, False), FixedFormat(20, 1, False, "RND", "SAT"), seed_bits=5,
                   newton_steps=2),
    RsqrtSpec(FixedFormat(16, 4, False), FixedFormat(20, 8, False, "RND", "SAT"), seed_bits=4),
    GeluSpec(FixedFormat(12, 4), FixedFormat(12, 4), step_bits=3, limit=4.0),
], ids=lambda s: type(s).__name__)
def test_other_formats_and_table_sizes_work(spec) -> None:
    """Specs are parameterized: smaller tables and other formats still approximate."""
    fmt = spec.input_fmt
    raw = np.arange(max(fmt.min_raw, 1 if not fmt.signed else fmt.min_raw), fmt.max_raw, 3)
    if isinstance(spec, ExpSpec):
        raw = raw[raw <= 0]
    x = FixedArray(raw, fmt)
    got, exact = spec(x).to_float(), spec.reference(x.to_float())
    exact = np.clip(exact, spec.output_fmt.min_value, spec.output_fmt.max_value)
    assert got.shape == exact.shape and spec(x).fmt == spec.output_fmt
    scale = np.abs(exact) if isinstance(spec, (ReciprocalSpec, RsqrtSpec)) else 1.0
    assert np.max(np.abs(got - exact) / scale) < 0.02


def test_tables_are_integers_of_the_stated_size() -> None:
    spec = DOMAINS["gelu"].spec
    table = spec.table()
    assert table.dtype == np.int64 and len(table) == spec.entries + 1 and table[-1] == 0
    assert len(DOMAINS["exp"].spec.table()) == 2**DOMAINS["exp"].spec.table_bits + 1
    assert len(DOMAINS["rsqrt"].spec.table()) == 2**DOMAINS["rsqrt"].spec.seed_bits


def test_an_input_of_another_format_is_refused() -> None:
    spec = DOMAINS["gelu"].spec
    with pytest.raises(ValueError, match=r"gelu takes values in Q4\.12"):
        spec(FixedArray(np.zeros(3, np.int64), FixedFormat(16, 6)))
