"""Driving a pipelined unit from cocotb: one input per cycle (or with random stalls),
collecting every output and the cycle it appeared, and the JSON report the runner reads."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, ReadOnly, RisingEdge


def report(**fields: Any) -> None:
    """Write the testbench's findings where ``run_testbench`` reads them."""
    with open(os.environ["EDGEMOE_TB_RESULT"], "w") as out:
        json.dump(fields, out, indent=2, default=int)


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def to_signed(raw: np.ndarray, width: int, signed: bool) -> np.ndarray:
    raw = raw.astype(np.int64)
    if signed:
        raw = np.where(raw >= 1 << (width - 1), raw - (1 << width), raw)
    return raw


async def reset(dut, clock: str = "clk", reset_name: str = "rst") -> None:
    Clock(getattr(dut, clock), 10, unit="ns").start()
    getattr(dut, reset_name).value = 1
    dut.in_valid.value = 0
    await ClockCycles(getattr(dut, clock), 3)
    getattr(dut, reset_name).value = 0


async def stream(dut, inputs: dict[str, list[int]], outputs: tuple[str, ...],
                 stall: float = 0.0, seed: int = 0, expected_outputs: int | None = None,
                 ) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Present ``inputs`` (port name -> unsigned values) with ``in_valid``, a cycle each, or
    with a bubble before an input with probability ``stall``, until ``expected_outputs``
    (default: one per input) have appeared. Returns every output port's values in order,
    the cycle each input was taken and the cycle each output appeared."""
    count = len(next(iter(inputs.values())))
    wanted = count if expected_outputs is None else expected_outputs
    bubbles = np.random.default_rng(seed).random(count * 2) < stall
    ports = [(getattr(dut, name), values) for name, values in inputs.items()]
    watched = [getattr(dut, name) for name in outputs]
    collected: list[list[int]] = [[] for _ in outputs]
    sent_at: list[int] = []
    seen_at: list[int] = []
    sent, cycle, limit = 0, 0, count * 3 + 1000
    while len(seen_at) < wanted:
        if sent < count and not bubbles[cycle % len(bubbles)]:
            for port, values in ports:
                port.value = values[sent]
            dut.in_valid.value = 1
            sent_at.append(cycle)
            sent += 1
        else:
            dut.in_valid.value = 0
        await RisingEdge(dut.clk)
        await ReadOnly()
        if dut.out_valid.value:
            for store, port in zip(collected, watched, strict=True):
                store.append(int(port.value))
            seen_at.append(cycle)
        await FallingEdge(dut.clk)
        cycle += 1
        if cycle > limit:
            raise AssertionError(f"{len(seen_at)} of {wanted} outputs after {cycle} cycles: "
                                 "out_valid stopped following in_valid")
    dut.in_valid.value = 0
    return ({name: np.asarray(values, dtype=object if max(values, default=0) >= 2**63
                              else np.int64)
             for name, values in zip(outputs, collected, strict=True)},
            np.asarray(sent_at), np.asarray(seen_at))


def first_mismatch(got: np.ndarray, expected: np.ndarray, inputs: dict[str, np.ndarray],
                   ) -> dict[str, Any] | None:
    wrong = np.flatnonzero(got != expected)
    if not wrong.size:
        return None
    i = int(wrong[0])
    return {"index": i, "inputs": {k: int(v[i]) for k, v in inputs.items()},
            "expected": int(expected[i]), "got": int(got[i]), "count": int(wrong.size)}
