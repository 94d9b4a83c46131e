"""The design-space plot: every point's FPS against its DSPs, the Pareto front of the
points that fit a ZCU104, and the Edge-MoE paper's design point."""

from __future__ import annotations

from pathlib import Path

from edgemoe.hls.perf.dse import EDGE_MOE_POINT, Point
from edgemoe.hls.perf.resource_model import ZCU104
from edgemoe.sim.atomic import atomic_path


def plot_pareto(points: list[Point], front: list[Point], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5))
    fits = [p for p in points if p.fits]
    over = [p for p in points if not p.fits]
    axes.scatter([p.resources.dsp for p in over], [p.fps for p in over], s=12, c="0.75",
                 label="does not fit the xczu7ev")
    axes.scatter([p.resources.dsp for p in fits], [p.fps for p in fits], s=14, c="tab:blue",
                 label="fits")
    if front:
        axes.plot([p.resources.dsp for p in front], [p.fps for p in front], "-o", c="tab:red",
                  ms=4, label="Pareto front")
    reference = [p for p in points if p.matches(EDGE_MOE_POINT)]
    if reference:
        axes.scatter([reference[0].resources.dsp], [reference[0].fps], marker="*", s=180,
                     c="gold", edgecolors="k", zorder=5,
                     label="Edge-MoE (P=4, 16x16, 32-bit, 300 MHz)")
    axes.axvline(ZCU104["dsp"], c="k", ls=":", lw=1)
    axes.axhline(60, c="tab:green", ls="--", lw=1, label="target 60 FPS")
    axes.set_xlabel("DSP48E2")
    axes.set_ylabel("frames per second (model)")
    axes.set_yscale("log")
    axes.legend(fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    with atomic_path(path) as target:
        figure.savefig(target, dpi=120, format="png")
    plt.close(figure)
    return path
