"""The ``edgemoe`` command.

Each subcommand lives beside the part it drives and is imported only when it runs, so
``edgemoe --help`` is instant and commands for the board never import torch.
"""

from __future__ import annotations

import importlib

import click

from edgemoe.sim.extras import MissingExtra, require

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
    "import": ("edgemoe.model.cli", "import_checkpoint",
               "Import published M3ViT or Edge-MoE weights as a run folder."),
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
    "verify": ("edgemoe.host.flow.verify", "verify",
               "Bit-exactness of many images and every task, layer by layer (Ray: --ray)."),
    "bundle": ("edgemoe.host.bundle", "bundle",
               "One folder for the board: artifact, overlay, notebook and README."),
}


TORCH = ("torch", "PyTorch", "model")
HEADERS = ("hls4ml", "the Xilinx ap_fixed headers (inside the hls4ml wheel)", "hls")
PYNQ = ("pynq", "the pynq library", "board")
# name -> what it needs beyond the core: (module, what it is, the extra that installs it)
NEEDS = {"train": (TORCH,), "import": (TORCH,), "eval": (TORCH,), "info": (TORCH,),
         "quantize": (TORCH,),
         "export": (TORCH, ("onnx", "onnx", "model")),
         "export-onnx": (TORCH, ("onnx", "onnx", "model"),
                         ("onnxruntime", "onnxruntime", "model")),
         "report": (TORCH,), "hls": (HEADERS,), "fixed": (HEADERS,), "run": (PYNQ,),
         "board-info": (PYNQ,), "verify": (HEADERS,),
         "demo": (TORCH, HEADERS, ("cocotb", "cocotb", "rtl"), PYNQ)}


def _missing(name: str, error: MissingExtra) -> click.Command:
    """A stand-in for a command whose extra is not installed: it says so in one line."""
    @click.command(name, context_settings={"ignore_unknown_options": True,
                                           "allow_extra_args": True, "help_option_names": []})
    def missing() -> None:
        raise click.ClickException(str(error))

    return missing


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in SUBCOMMANDS:
            return None
        try:
            for module, what, extra in NEEDS.get(name, ()):
                require(module, what, extra, name)
        except MissingExtra as err:
            return _missing(name, err)
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
