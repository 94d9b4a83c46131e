"""The ``edgemoe`` command.

Each subcommand lives beside the part it drives and is imported only when it runs, so
``edgemoe --help`` is instant and commands for the board never import torch.
"""

from __future__ import annotations

import importlib

import click

# name -> (module, attribute, one-line help shown by --help without importing the module)
SUBCOMMANDS = {
    "doctor": ("edgemoe.host.flow.doctor", "doctor",
               "Report which tools are installed and usable."),
    "fixed": ("edgemoe.hls.fixed_demo", "fixed",
              "Quantize values in Python and with ap_fixed.h, side by side."),
    "approx-report": ("edgemoe.sim.approx_report", "approx_report",
                      "Error of the exp, 1/x, 1/sqrt(x) and GELU approximations, with plots."),
    "hls": ("edgemoe.hls.cli", "hls",
            "Generate the Vitis HLS project of an artifact; run it in C simulation."),
    "estimate": ("edgemoe.hls.perf.cli", "estimate",
                 "Latency, FPS and resources of an artifact's accelerator on a ZCU104."),
    "demo": ("edgemoe.host.flow.demo.cli", "demo",
             "The whole flow on the tiny config, skipping stages whose inputs are unchanged."),
    "dse": ("edgemoe.hls.perf.cli", "dse",
            "Sweep the accelerator's parameters; plot FPS against DSPs (Pareto front)."),
    "rtl": ("edgemoe.hls.rtl.cli", "rtl",
            "Verilog units and kernels: generate, lint, cocotb tests, cosimulation."),
    "train": ("edgemoe.model.cli", "train",
              "Train M3ViT on the synthetic multi-task scenes, then evaluate it."),
    "eval": ("edgemoe.model.cli", "evaluate",
             "Per-task metrics of a checkpoint, its single-task paths, and the baseline."),
    "info": ("edgemoe.model.cli", "info",
             "Build a config's model and print its size and per-task MACs."),
    "quantize": ("edgemoe.model.cli", "quantize",
                 "Calibrate fixed-point formats; compare float vs fixed per task and layer."),
    "export": ("edgemoe.model.cli", "export",
               "Write an artifact: manifest, weights.bin, heads, golden vectors, ONNX."),
    "export-onnx": ("edgemoe.model.cli", "export_onnx",
                    "Export one ONNX graph per task, checked against PyTorch."),
    "report": ("edgemoe.model.report.cli", "report",
               "One self-contained HTML page of an artifact's results (plus PNGs and JSON)."),
    "run": ("edgemoe.host.flow.board", "run",
            "Run an artifact on the board or its emulator; validate and measure it."),
    "board-info": ("edgemoe.host.commands", "board_info",
                   "List the overlay's IPs, clocks, register map and power rails."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        module, attribute, _ = SUBCOMMANDS[name]
        return getattr(importlib.import_module(module), attribute)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, SUBCOMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup)
@click.version_option(package_name="edgemoe")
def main() -> None:
    """edgemoe: M3ViT mixture-of-experts ViTs on the Edge-MoE FPGA accelerator (ZCU104)."""
