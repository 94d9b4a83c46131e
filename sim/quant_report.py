"""The quantization report: float vs each preset per task, SQNR per layer (JSON and PNG)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .output_folder import output_folder
from .tasks import TASKS

METRICS = {name: task.metrics for name, task in TASKS.items()}


def summary_table(reports: list[dict[str, Any]]) -> str:
    presets = [r["preset"] for r in reports]
    lines = [f"{'task':<13}{'metric':<16}{'float':>10}" + "".join(f"{p:>12}" for p in presets)]
    first = reports[0]["metrics"]
    for task, names in METRICS.items():
        if task not in first:
            continue
        for name in names:
            row = f"{task:<13}{name:<16}{first[task]['float'][name]:>10.4f}"
            row += "".join(f"{r['metrics'][task]['fixed'][name]:>12.4f}" for r in reports)
            lines.append(row)
    lines += [token_error_line(r["preset"], r["tokens"]) for r in reports]
    return "\n".join(lines)


def token_error_line(preset: str, tokens: dict[str, Any]) -> str:
    return (f"{preset}: tokens after the last block vs float64: relative RMSE "
            f"{100 * tokens['relative_rmse']:.3f}% ({tokens['rerouted']} of {tokens['tokens']} "
            "tokens routed differently, left out)")


def _plot(reports: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(11, 4))
    for report in reports:
        names = list(report["sqnr_db"])
        axis.plot(range(len(names)), list(report["sqnr_db"].values()), marker="o",
                  markersize=3, label=report["preset"])
    axis.set_xticks(range(len(names)), names, rotation=90, fontsize=6)
    axis.set_ylabel("SQNR (dB)")
    axis.set_title("signal-to-quantization-noise per layer output")
    axis.grid(alpha=0.3)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)


def write_quantization_files(reports: list[dict[str, Any]], folder: Path) -> None:
    """``quantization.json`` and ``quantization_sqnr.png`` into ``folder`` (being built)."""
    (folder / "quantization.json").write_text(json.dumps(reports, indent=2))
    _plot(reports, folder / "quantization_sqnr.png")


def write_quantization_report(reports: list[dict[str, Any]], out_dir: Path) -> str:
    """Write the quantization files into the report folder ``out_dir``; return the
    summary."""
    with output_folder(out_dir, "quantize") as folder:
        write_quantization_files(reports, folder)
    return (f"{summary_table(reports)}\n(on {reports[0]['images']} validation images; "
            f"report in {out_dir})")
