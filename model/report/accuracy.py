"""Float versus fixed point per task for both presets, and SQNR per layer.

Computed from the checkpoint (the artifact's own preset uses the artifact's formats, the
other one is calibrated here), or read from the ``quantization.json`` that
``edgemoe quantize`` writes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from edgemoe.sim.artifact import Artifact
from edgemoe.sim.quant_report import METRICS, write_quantization_files

from .page import Figure, Section, Table

PRESETS = ("int16", "edge-moe")
QUANTIZATION_JSON = "quantization.json"
SQNR_PNG = "quantization_sqnr.png"


def compare_presets(artifact: Artifact, float_weights: dict[str, np.ndarray],
                    heads: tuple[dict, dict], calibration: np.ndarray, images: np.ndarray,
                    truths: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """``compare_float_fixed`` for each preset: the artifact's formats for its own preset,
    freshly calibrated formats for the other."""
    from edgemoe.sim.quant import calibrate
    from edgemoe.sim.quant_eval import compare_float_fixed

    manifest = artifact.manifest
    reports = []
    for preset in PRESETS:
        spec = (manifest.spec if preset == manifest.spec.preset
                else calibrate(manifest.config, float_weights, calibration, preset))
        reports.append(compare_float_fixed(manifest.config, manifest.accelerator, float_weights,
                                           spec, heads, images, truths))
    return reports


def load_quantization(candidates: list[Path]) -> list[dict[str, Any]] | None:
    """The first ``quantization.json`` found, as ``edgemoe quantize`` wrote it."""
    for path in candidates:
        if path.is_file():
            return json.loads(path.read_text())
    return None


def _cell(value: float) -> str:
    return f"{value:.4f}"


def accuracy_sections(reports: list[dict[str, Any]] | None, folder: Path, command: str,
                      ) -> list[Section]:
    """The float-vs-fixed table and the SQNR plot (written with the JSON into ``folder``)."""
    accuracy = Section("accuracy", "Accuracy: float vs fixed point")
    sqnr = Section("sqnr", "Signal-to-quantization noise per layer")
    if reports is None:
        accuracy.not_run = sqnr.not_run = command
        return [accuracy, sqnr]
    write_quantization_files(reports, folder)
    presets = [r["preset"] for r in reports]
    rows = []
    for task, names in METRICS.items():
        if task not in reports[0]["metrics"]:
            continue
        for name in names:
            rows.append([task, name, _cell(reports[0]["metrics"][task]["float"][name])]
                        + [_cell(r["metrics"][task]["fixed"][name]) for r in reports])
    accuracy.tables.append(Table(["task", "metric", "float", *presets], rows,
                                 "mIoU, pixel accuracy, F-measures, IoU and the share within "
                                 "11.25 degrees: higher is better; RMSE (m), abs-rel and "
                                 "angles (degrees): lower is better."))
    accuracy.summary = (f"{reports[0]['images']} validation images through the float model and "
                        "through the bit-accurate simulator of each precision preset; both end "
                        "in the same float task heads.")
    accuracy.tables.append(Table(
        ["preset", "token relative RMSE", "tokens routed differently"],
        [[r["preset"], f"{100 * r['tokens']['relative_rmse']:.3f}%",
          f"{r['tokens']['rerouted']} of {r['tokens']['tokens']}"] for r in reports],
        "The tokens after the last block against the float64 reference, over the tokens "
        "every MoE layer routed as the float model does (the others are left out and "
        "counted)."))
    accuracy.data = [{"preset": r["preset"], "images": r["images"], "metrics": r["metrics"],
                      "tokens": r["tokens"]} for r in reports]
    summary_rows = []
    for report in reports:
        values = report["sqnr_db"]
        worst = min(values, key=values.get)
        summary_rows.append([report["preset"], f"{values[worst]:.1f}", worst,
                             f"{float(np.median(list(values.values()))):.1f}"])
    sqnr.tables.append(Table(["preset", "lowest SQNR (dB)", "at layer output", "median (dB)"],
                             summary_rows))
    sqnr.figures.append(Figure(SQNR_PNG, "SQNR of every layer output, fixed point against "
                                         "the float64 reference"))
    sqnr.data = {r["preset"]: r["sqnr_db"] for r in reports}
    return [accuracy, sqnr]
