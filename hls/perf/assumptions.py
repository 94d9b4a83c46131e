"""What ``edgemoe estimate`` assumes, as one table: the memory ports, the pipelines' fill,
the latencies of the approximations at the code's widths, each pipelined loop's II and
largest trip count, and how many instances each unit has. A synthesis report's figures
(``--csynth``) replace the model's where it has them, and the table says which is which."""

from __future__ import annotations

from dataclasses import dataclass

from .csynth_report import LoopReport
from .cycle_model import WEIGHT_PORTS, Design, loop_ii
from .loops import (
    LOOPS,
    PIPELINE_DEPTH,
    exp_latency,
    reciprocal_latency,
    rsqrt_latency,
    softmax_update_latency,
)
from .resource_model import approximation_units

#: Units held to one instance (``allocation ... limit=1``, or a single call site).
SHARED_UNITS = ("linear_rows", "layer_norm", "attention")


@dataclass(frozen=True)
class Assumption:
    name: str
    value: str
    source: str  # "model" or "csynth"


def assumptions(design: Design, reported: dict[str, LoopReport] | None = None
                ) -> list[Assumption]:
    reported = reported or {}
    port, widths = design.port, design.operand_widths
    rows = [
        Assumption("m_axi word", f"{port.axi_bits} bits", "model"),
        Assumption("HP port", f"{port.bits_per_cycle} bits a cycle, one per bundle", "model"),
        Assumption("weight ports", f"{WEIGHT_PORTS}, taking turns strip by strip", "model"),
        Assumption("burst efficiency", f"{port.burst_efficiency:.2f}", "model"),
        Assumption("port latency", f"{port.latency} cycles a transfer", "model"),
        Assumption("pipeline depth", f"{PIPELINE_DEPTH} cycles", "model"),
        Assumption("exp latency", f"{exp_latency(design)} cycles", "model"),
        Assumption("reciprocal latency", f"{reciprocal_latency(design)} cycles "
                   f"({widths.reciprocal_operand}-bit Newton operands)", "model"),
        Assumption("rsqrt latency", f"{rsqrt_latency(design)} cycles "
                   f"({widths.rsqrt_operand}-bit Newton operands)", "model"),
        Assumption("attention heads", f"{design.attention_heads} of {design.config.heads} "
                   f"side by side, {design.head_groups} group(s) taking turns", "model"),
        Assumption("softmax update", f"{softmax_update_latency(design)} cycles", "model"),
    ]
    for label, model in LOOPS.items():
        if model.kind != "pipelined":
            continue
        report = reported.get(label)
        trip = (report.trip if report and report.trip else
                model.trip(design) if model.trip else None)
        value = f"II {loop_ii(design, label)}" + (f", trip <= {trip:,}" if trip else "")
        source = "csynth" if report and report.ii else "model"
        rows.append(Assumption(f"loop {label}", value, source))
    for unit in SHARED_UNITS:
        rows.append(Assumption(f"instances of {unit}", "1", "model"))
    for unit, count in approximation_units(design).items():
        rows.append(Assumption(f"instances of {unit}", str(count), "model"))
    return rows
