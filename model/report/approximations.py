"""The exp, 1/x, 1/sqrt(x) and GELU approximations against float64, as
``edgemoe approx-report`` measures them, plus the softmax on the artifact's scores."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgemoe.sim.approx import ApproxError, default_domains, measure
from edgemoe.sim.approx_report import (
    SOFTMAX_TARGET,
    error_row,
    plot_errors,
    softmax_error,
    target,
)

from .page import Figure, Section, Table

FIGURE = "approx_errors.png"
PLOTTED_POINTS = 1 << 15  # per curve: the worst input of each bin, so no peak is lost


def _envelope(error: ApproxError, errors: np.ndarray) -> ApproxError:
    """The input with the largest error in each of ``PLOTTED_POINTS`` bins."""
    bins = -(-len(errors) // PLOTTED_POINTS)
    if bins == 1:
        return error
    padded = np.concatenate([np.nan_to_num(errors, nan=-1.0),
                             np.full(-len(errors) % bins, -np.inf)]).reshape(-1, bins)
    keep = np.minimum(np.arange(len(padded)) * bins + padded.argmax(axis=1), len(errors) - 1)
    return ApproxError(error.inputs[keep], error.outputs[keep], error.exact[keep])


def approximations_section(artifact: Path, folder: Path) -> Section:
    domains = default_domains()
    errors = [measure(domain) for domain in domains]
    rows, data, plotted = [], [], []
    for domain, error in zip(domains, errors, strict=True):
        kind, _ = target(domain)
        plotted.append(_envelope(error, error.rel_error if kind == "rel" else error.abs_error))
        data.append(error_row(domain, error))
    plot_errors(domains, plotted, folder / FIGURE)
    worst, count = softmax_error(artifact)
    data.append({"name": "softmax", "attention_rows": count, "max_abs": worst,
                 "target_kind": "abs", "target": SOFTMAX_TARGET, "ok": worst <= SOFTMAX_TARGET})
    for row in data:
        formats = f"{row['input']} -> {row['output']}" if "input" in row else (
            f"{row['attention_rows']} attention rows of the artifact")
        rows.append([row["name"], formats, f"{row['max_abs']:.3g}",
                     f"{row['max_rel']:.3g}" if row["target_kind"] == "rel" else "",
                     f"{row['target_kind']} <= {row['target']:.3g}",
                     "met" if row["ok"] else "MISSED"])
    section = Section("approximations", "Approximation errors",
                      tables=[Table(["unit", "formats", "max abs", "max rel", "target",
                                     "verdict"], rows)],
                      figures=[Figure(FIGURE, "error over every representable input (int16 "
                                              "preset formats), target dashed")],
                      data=data)
    section.summary = ("Integer approximations (tables, interpolation, Newton steps) defined "
                       "once in edgemoe.sim and emitted unchanged to HLS and Verilog.")
    return section
