"""The datapath units against ``edgemoe.sim``: every input of a unit of at most 16 input
bits, otherwise ``EDGEMOE_TB_SAMPLES`` random inputs plus the edge cases; first back to
back (one input every cycle), then again with random bubbles, checking the latency of
every output. Each cocotb test is named after the module it checks.

Environment: ``EDGEMOE_RTL_DIR`` (the generated folder, for ``units.json``),
``EDGEMOE_TB_SAMPLES`` (default 100000), ``EDGEMOE_TB_EXHAUSTIVE`` (0: sample narrow units
too, for slow simulators), ``EDGEMOE_TB_SEED``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cocotb
import numpy as np

from edgemoe.sim.approx import ExpSpec, GeluSpec, ReciprocalSpec, RsqrtSpec
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.fixed_format import FixedFormat
from edgemoe.sim.kernels import linear
from edgemoe.sim.kernels import softmax_update as softmax_update_reference
from edgemoe.sim.unit_specs import UnitSpecs

from .streams import env_int, first_mismatch, report, reset, stream, to_signed

EXHAUSTIVE_BITS = 16
STALL = 0.3  # probability of a bubble before an input in the second pass
STALLED_SAMPLES = 8192


def _units() -> dict[str, Any]:
    return json.loads((Path(os.environ["EDGEMOE_RTL_DIR"]) / "units.json").read_text())


def _specs() -> UnitSpecs:
    return UnitSpecs.from_dict(_units()["specs"])


def _rng() -> np.random.Generator:
    return np.random.default_rng(env_int("EDGEMOE_TB_SEED", 1))


def _values(fmt: FixedFormat, rng: np.random.Generator, exhaustive: bool = True) -> np.ndarray:
    """Every raw value of ``fmt`` when it is narrow enough, else random ones and the edges:
    both ends, zero and one LSB around it, and each power of two and its neighbours."""
    if exhaustive and fmt.width <= EXHAUSTIVE_BITS and env_int("EDGEMOE_TB_EXHAUSTIVE", 1):
        return np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64)
    powers = [1 << b for b in range(fmt.width)]
    edges = {fmt.min_raw, fmt.min_raw + 1, fmt.max_raw - 1, fmt.max_raw, -1, 0, 1}
    edges |= {p + d for p in powers for d in (-1, 0, 1)}
    edges |= {-p + d for p in powers for d in (-1, 0, 1)}
    edges = sorted(e for e in edges if fmt.min_raw <= e <= fmt.max_raw)
    random = rng.integers(fmt.min_raw, fmt.max_raw, env_int("EDGEMOE_TB_SAMPLES", 100_000),
                          endpoint=True)
    return np.concatenate([np.asarray(edges, dtype=np.int64), random])


def _unsigned(raw: np.ndarray, width: int) -> list[int]:
    return (raw & ((1 << width) - 1)).tolist()


async def _passes(dut, module: str, inputs: dict[str, np.ndarray],
                  widths: dict[str, int], outputs: dict[str, FixedFormat],
                  expected: dict[str, np.ndarray], exhaustive: bool) -> None:
    """Back to back with every input, then with bubbles on a prefix; report, assert."""
    latency_expected = _units()["units"][module]["latency"]
    await reset(dut)
    findings: dict[str, Any] = {"unit": module, "inputs": len(next(iter(inputs.values()))),
                                "exhaustive": exhaustive}
    for name, stall, count in (("back_to_back", 0.0, None), ("stalled", STALL,
                                                             STALLED_SAMPLES)):
        chunk = {k: v[:count] for k, v in inputs.items()}
        got, sent_at, seen_at = await stream(
            dut, {k: _unsigned(v, widths[k]) for k, v in chunk.items()}, tuple(outputs), stall,
            seed=env_int("EDGEMOE_TB_SEED", 1))
        latency = seen_at - sent_at + 1
        mismatches = {}
        for port, fmt in outputs.items():
            values = to_signed(got[port], fmt.width, fmt.signed)
            mismatches[port] = first_mismatch(values, expected[port][:count], chunk)
        findings[name] = {"inputs": len(next(iter(chunk.values()))),
                          "cycles": int(seen_at[-1] - sent_at[0] + 1),  # first in to last out
                          "latencies": sorted({int(x) for x in latency}),
                          "mismatches": {k: v for k, v in mismatches.items() if v}}
    report(**findings, latency=latency_expected)
    for name in ("back_to_back", "stalled"):
        assert not findings[name]["mismatches"], f"{module} ({name}): {findings[name]}"
        assert findings[name]["latencies"] == [latency_expected], \
            f"{module} ({name}): latencies {findings[name]['latencies']}, " \
            f"expected {latency_expected}"


async def _approximation(dut, module: str, spec: GeluSpec | ExpSpec | ReciprocalSpec |
                         RsqrtSpec) -> None:
    raw = _values(spec.input_fmt, _rng())
    expected = spec(FixedArray(raw, spec.input_fmt)).raw
    await _passes(dut, module, {"in_data": raw}, {"in_data": spec.input_fmt.width},
                  {"out_data": spec.output_fmt}, {"out_data": expected},
                  len(raw) == 2**spec.input_fmt.width)


@cocotb.test()
async def gelu_unit(dut) -> None:
    await _approximation(dut, "gelu_unit", _specs().gelu)


@cocotb.test()
async def exp_unit(dut) -> None:
    await _approximation(dut, "exp_unit", _specs().exp)


@cocotb.test()
async def recip_unit(dut) -> None:
    await _approximation(dut, "recip_unit", _specs().reciprocal)


@cocotb.test()
async def rsqrt_unit(dut) -> None:
    await _approximation(dut, "rsqrt_unit", _specs().rsqrt)


@cocotb.test()
async def softmax_update(dut) -> None:
    specs = _specs()
    spec, score_fmt, sums = specs.softmax, specs.score_fmt, specs.softmax.sum_fmt
    rng = _rng()
    scores = _values(score_fmt, rng, exhaustive=False)
    count = len(scores)
    peaks = np.concatenate([scores[::-1][:16], rng.integers(score_fmt.min_raw,
                                                            score_fmt.max_raw + 1, count - 16)])
    # sums up to where adding exp <= 1 still fits the sum format (the calibrated case)
    headroom = sums.max_raw - (1 << sums.frac_bits)
    totals = np.concatenate([[0, 1, headroom, headroom - 1], rng.integers(0, headroom + 1,
                                                                          count - 4)])
    first = rng.random(count) < 0.1
    first[:3] = True
    expected_peak, expected_total = softmax_update_reference(
        FixedArray(peaks, score_fmt), FixedArray(totals, sums), FixedArray(scores, score_fmt),
        first, spec)
    await _passes(dut, "softmax_update",
                  {"in_score": scores, "in_max": peaks, "in_sum": totals,
                   "in_first": first.astype(np.int64)},
                  {"in_score": score_fmt.width, "in_max": score_fmt.width,
                   "in_sum": sums.width, "in_first": 1},
                  {"out_max": score_fmt, "out_sum": sums},
                  {"out_max": expected_peak.raw, "out_sum": expected_total.raw}, False)


@cocotb.test()
async def softmax_finalize(dut) -> None:
    specs = _specs()
    spec, score_fmt = specs.softmax, specs.score_fmt
    rng = _rng()
    totals = _values(spec.sum_fmt, rng, exhaustive=False)
    peaks = rng.integers(score_fmt.min_raw, score_fmt.max_raw + 1, len(totals))
    inverse = spec.reciprocal(FixedArray(totals, spec.sum_fmt)).raw
    await _passes(dut, "softmax_finalize", {"in_sum": totals, "in_max": peaks},
                  {"in_sum": spec.sum_fmt.width, "in_max": score_fmt.width},
                  {"out_inv_sum": spec.reciprocal.output_fmt, "out_max": score_fmt},
                  {"out_inv_sum": inverse, "out_max": peaks}, False)


def _pack(lanes: np.ndarray, width: int) -> int:
    """Lane 0 in the lowest bits, as the Verilog ports are laid out."""
    value = 0
    for lane in reversed((lanes & ((1 << width) - 1)).tolist()):
        value = (value << width) | lane
    return value


@cocotb.test()
async def mac_tile(dut) -> None:
    """Rows of 1 to 8 beats of random inputs and weights (the first rows at the formats'
    extremes), back to back and then with bubbles; every row's outputs equal ``linear``."""
    spec = _specs().mac
    x_fmt, w_fmt, tin, tout = spec.x_fmt, spec.w_fmt, spec.tile_in, spec.tile_out
    rng = _rng()
    target = env_int("EDGEMOE_TB_SAMPLES", 100_000) // tin  # beats for that many inputs
    latency_expected = _units()["units"]["mac_tile"]["latency"]
    await reset(dut)
    findings: dict[str, Any] = {"unit": "mac_tile"}
    for name, stall, beats_wanted in (("back_to_back", 0.0, target),
                                      ("stalled", STALL, min(target, 2048))):
        rows, beats = [], 0
        while beats < beats_wanted:
            length = int(rng.integers(1, 9))
            x = rng.integers(x_fmt.min_raw, x_fmt.max_raw + 1, (length, tin))
            w = rng.integers(w_fmt.min_raw, w_fmt.max_raw + 1, (length, tin, tout))
            if len(rows) < 2:  # all-extreme rows: the largest sums the accumulator holds
                x[:] = x_fmt.min_raw
                w[:] = w_fmt.min_raw if len(rows) == 0 else w_fmt.max_raw
            rows.append((x, w))
            beats += length
        ports: dict[str, list[int]] = {"in_x": [], "in_w": [], "in_first": [], "in_last": []}
        expected = []
        for x, w in rows:
            for beat in range(len(x)):
                ports["in_x"].append(_pack(x[beat], x_fmt.width))
                ports["in_w"].append(_pack(w[beat].reshape(-1), w_fmt.width))
                ports["in_first"].append(int(beat == 0))
                ports["in_last"].append(int(beat == len(x) - 1))
            weight = FixedArray(w.transpose(2, 0, 1).reshape(tout, -1), w_fmt)
            expected.append(linear(FixedArray(x.reshape(1, -1), x_fmt), weight, None,
                                   spec.out_fmt).raw[0])
        got, sent_at, seen_at = await stream(dut, ports, ("out_y",), stall,
                                             seed=env_int("EDGEMOE_TB_SEED", 1),
                                             expected_outputs=len(rows))
        lanes = np.array([[(int(v) >> (o * spec.out_fmt.width)) & ((1 << spec.out_fmt.width) - 1)
                           for o in range(tout)] for v in got["out_y"]], dtype=np.int64)
        values = to_signed(lanes, spec.out_fmt.width, spec.out_fmt.signed)
        expected_array = np.asarray(expected)
        wrong = np.argwhere(values != expected_array)
        last_beats = np.flatnonzero(np.asarray(ports["in_last"]))
        findings[name] = {
            "rows": len(rows), "beats": len(ports["in_x"]), "inputs": len(ports["in_x"]) * tin,
            "cycles": int(seen_at[-1] - sent_at[0] + 1),
            "latencies": sorted({int(v) for v in seen_at - sent_at[last_beats] + 1}),
            "mismatches": {} if not len(wrong) else {"out_y": {
                "row": int(wrong[0][0]), "lane": int(wrong[0][1]), "count": len(wrong),
                "expected": int(expected_array[tuple(wrong[0])]),
                "got": int(values[tuple(wrong[0])])}}}
    report(**findings, latency=latency_expected)
    for name in ("back_to_back", "stalled"):
        assert not findings[name]["mismatches"], f"mac_tile ({name}): {findings[name]}"
        assert findings[name]["latencies"] == [latency_expected], f"mac_tile: {findings[name]}"
