"""The flow of ``edgemoe demo`` as stages: train, evaluate, quantize, export, generate the
HLS project, C simulation, the RTL units and their yosys resources, the emulated board, the
report.

Paths are the ones the standalone commands use (``runs/NAME``, ``artifacts/NAME``,
``build/NAME``, ``reports/NAME``), relative to the working folder, so each stage's rerun
command is exactly what a user would type. Torch (``model``) and the code generators
(``hls``) are imported inside the stage functions only.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from tqdm.auto import tqdm

from edgemoe.sim.bitexact_record import FirstMismatch, record_bitexact

from .runner import Stage

PRESET = "int16"
VALIDATE_IMAGES = 4  # the artifact's golden vector images (export's default)
RTL_QUICK_SAMPLES = 3000  # as `edgemoe rtl test --quick`
# The bit-exactness records (sim.bitexact_record) under the stage names the report knows
RECORDS = {"csim": "bitexact-csim.json", "rtl units": "bitexact-rtl-units.json",
           "emulated board (sim)": "bitexact-emulated-board-sim.json"}


@dataclass(frozen=True)
class Paths:
    """Where each stage writes, for config ``name``."""

    name: str

    @property
    def run_dir(self) -> Path:
        return Path("runs") / self.name

    @property
    def checkpoint(self) -> Path:
        return self.run_dir / "checkpoint.pt"

    @property
    def metrics(self) -> Path:
        return self.run_dir / "metrics.json"

    @property
    def artifact(self) -> Path:
        return Path("artifacts") / self.name

    @property
    def hls_project(self) -> Path:
        return Path("build") / self.name / "hls"

    @property
    def rtl_dir(self) -> Path:
        return Path("build") / self.name / "rtl"

    @property
    def rtl_resources(self) -> Path:
        return Path("build") / self.name / "rtl-estimate"

    @property
    def emulated(self) -> Path:
        return Path("build") / self.name / "emulated"

    @property
    def reports(self) -> Path:
        return Path("reports") / self.name

    @property
    def results(self) -> Path:
        return self.reports / "results"

    @property
    def stamps(self) -> Path:
        return Path("build") / "demo" / self.name / "stamps"


def train_stage(document: dict[str, Any], paths: Paths) -> str:
    """Train into a scratch folder, then move the checkpoint and its config into place
    (``train`` refuses to overwrite a run; an interrupted one leaves the old run intact)."""
    from edgemoe.model.checkpoint import load_checkpoint
    from edgemoe.model.train import CHECKPOINT_NAME, CONFIG_NAME, train

    paths.run_dir.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{paths.name}.", dir=paths.run_dir.parent))
    try:
        train(document, scratch)
        paths.run_dir.mkdir(exist_ok=True)
        for name in (CONFIG_NAME, CHECKPOINT_NAME):
            os.replace(scratch / name, paths.run_dir / name)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    state = load_checkpoint(paths.checkpoint).training_state
    losses = ", ".join(f"{key} {value:.3f}" for key, value in state["history"][-1].items()
                       if key != "epoch")
    return f"{state['epoch']} epochs in {state['seconds']:.0f} s; last epoch's loss: {losses}"


def evaluate_stage(paths: Paths) -> str:
    from edgemoe.model.cli import evaluate

    evaluate.main([str(paths.checkpoint), "--json", str(paths.metrics)], standalone_mode=False)
    results = json.loads(paths.metrics.read_text())
    return "; ".join(f"{task} " + ", ".join(f"{k} {v:.3f}" for k, v in r["model"].items())
                     for task, r in results.items())


def quantize_stage(paths: Paths) -> str:
    from edgemoe.model.cli import quantize

    quantize.main([str(paths.checkpoint), "--preset", PRESET, "-o", str(paths.results)],
                  standalone_mode=False)
    (report,) = json.loads((paths.results / "quantization.json").read_text())
    metrics = "; ".join(
        f"{task} " + ", ".join(f"{k} {v['float'][k]:.4f} -> {v['fixed'][k]:.4f}"
                               for k in v["float"])
        for task, v in report["metrics"].items())
    return (f"float -> {PRESET} on {report['images']} images: {metrics}; "
            f"SQNR >= {min(report['sqnr_db'].values()):.1f} dB")


def export_stage(paths: Paths) -> str:
    from edgemoe.model.cli import export

    export.main([str(paths.checkpoint), "--preset", PRESET, "-o", str(paths.artifact)],
                standalone_mode=False)
    files = [p for p in paths.artifact.rglob("*") if p.is_file()]
    size = (paths.artifact / "weights.bin").stat().st_size
    return f"{len(files)} files, weights.bin {size / 1024:.0f} KiB"


def hls_stage(paths: Paths) -> str:
    from edgemoe.hls.generator import generate
    from edgemoe.hls.lint import RULES, lint_project

    project = generate(paths.artifact, paths.hls_project)
    findings = lint_project(project)
    if findings:
        raise click.ClickException(f"hls lint: {len(findings)} findings, the first "
                                   f"{findings[0]}")
    files = [p for p in project.rglob("*") if p.is_file()]
    return f"{len(files)} files in {project}, lint clean ({len(RULES)} rules)"


def csim_stage(paths: Paths, command: str) -> str:
    """g++ build of the generated project; its testbench compares every layer of every
    vector image and task with the simulator's golden values."""
    from edgemoe.hls.csim import run_csim

    report = run_csim(paths.hls_project, paths.artifact)
    wrong = next((tap for tap in report.taps if not tap.equal), None)
    first = None
    if wrong is not None:
        first = FirstMismatch(f"{wrong.task} image {wrong.image} {wrong.name}", (wrong.index,),
                              wrong.expected, wrong.got)
    elif not report.tokens_equal:
        first = FirstMismatch("output tokens (every layer output equal)")
    images = len({tap.image for tap in report.taps})
    tasks = len({tap.task for tap in report.taps})
    record_bitexact(paths.results, "csim", compared_against="simulator (golden vectors)",
                    compared={"images": images, "tasks": tasks,
                              "layer outputs": len(report.taps)},
                    equal=first is None, first_mismatch=first, command=command)
    if first is not None:
        raise click.ClickException(f"C simulation differs from the simulator: {first}")
    return (f"bit-exact: {len(report.taps)}/{len(report.taps)} layer outputs and the tokens "
            f"({images} images x {tasks} tasks)")


def rtl_generate_stage(paths: Paths) -> str:
    from edgemoe.hls.rtl.generate import generate_rtl
    from edgemoe.sim.artifact import Artifact
    from edgemoe.sim.unit_specs import UnitSpecs

    generate_rtl(paths.rtl_dir, UnitSpecs.from_manifest(Artifact(paths.artifact).manifest))
    modules = sorted(p.stem for p in paths.rtl_dir.glob("*.v"))
    return f"{len(modules)} Verilog modules at the artifact's formats"


def rtl_simulator() -> str:
    """Icarus where installed (it builds a unit in a second, Verilator in about 40 s)."""
    from edgemoe.hls.rtl.cocotb_run import simulator_available

    return "icarus" if simulator_available("icarus") else "verilator"


def _unit_mismatch(module: str, found: dict[str, Any]) -> FirstMismatch:
    for run in ("back_to_back", "stalled"):
        for port, info in (found.get(run, {}).get("mismatches") or {}).items():
            return FirstMismatch(f"{module} {run} {port} (inputs {info.get('inputs')})",
                                 (info["index"],) if "index" in info else None,
                                 info.get("expected"), info.get("got"))
    return FirstMismatch(f"{module}: failed without a wrong value (latency or handshake); "
                         f"log {found.get('log')}")


def rtl_test_stage(paths: Paths, simulator: str, command: str) -> str:
    """Each unit's cocotb testbench, quick: sampled inputs, back to back and stalled."""
    from edgemoe.hls.rtl.check import TESTED_UNITS, check_unit

    inputs = 0
    failed: list[FirstMismatch] = []
    for module in tqdm(TESTED_UNITS, desc=f"units ({simulator})", unit="unit"):
        found = check_unit(paths.rtl_dir, module, simulator, RTL_QUICK_SAMPLES,
                           exhaustive=False)
        inputs += found.get("back_to_back", {}).get("inputs", 0)
        if not found["passed"]:
            failed.append(_unit_mismatch(module, found))
    record_bitexact(paths.results, "rtl units", compared_against="simulator (unit models)",
                    compared={"units": len(TESTED_UNITS), "inputs": inputs},
                    equal=not failed, first_mismatch=failed[0] if failed else None,
                    command=command)
    if failed:
        raise click.ClickException(f"{len(failed)} units not bit-exact; first: {failed[0]}")
    units = len(TESTED_UNITS)
    return f"bit-exact: {units}/{units} units, {inputs} inputs ({simulator})"


def board_stage(paths: Paths, command: str) -> str:
    """The PYNQ driver on the emulated ZCU104 (kernel: the simulator), every task, each
    result checked against ``simulate``; tasks alternate without reloading weights."""
    from edgemoe.host.driver import Accelerator
    from edgemoe.host.emulator import emulate
    from edgemoe.host.validate import validate
    from edgemoe.sim.artifact import Artifact

    images = Artifact(paths.artifact).vector_images()[:VALIDATE_IMAGES]
    design = emulate(paths.artifact, paths.emulated)[1]
    accelerator = Accelerator.load(paths.artifact, design, max_images=len(images))
    loads = accelerator.weight_loads
    checks = validate(accelerator, images, progress=True)
    reloads = accelerator.weight_loads - loads
    for check in checks:
        tqdm.write(str(check))
    wrong = next((check for check in checks if not check.passed), None)
    first = None
    if wrong is not None and not wrong.equal:
        token, dim, expected, got = wrong.first_difference
        first = FirstMismatch(f"{wrong.task} image {wrong.image} tokens", (token, dim),
                              expected, got)
    elif wrong is not None:  # equal to the simulator, but not to the golden vector or float
        first = FirstMismatch(str(wrong))
    elif reloads:
        first = FirstMismatch(f"weights reloaded {reloads} times on task switches")
    record_bitexact(paths.results, "emulated board (sim)", compared_against="simulator",
                    compared={"images": len(images), "runs": len(checks)},
                    equal=first is None, first_mismatch=first, command=command)
    if first is not None:
        raise click.ClickException(f"the emulated board differs from the simulator: {first}")
    return f"bit-exact: {len(checks)}/{len(checks)} runs (images x tasks), no weight reloads"


def rtl_estimate_stage(paths: Paths) -> str:
    """yosys synth_xilinx of each unit (the report's resource table); without yosys the
    table shows as not run, the flow goes on."""
    from edgemoe.hls.rtl.estimate import estimate

    if shutil.which("yosys") is None:
        return "not run: yosys is not installed (apt-get install yosys)"
    rows = estimate(paths.rtl_dir, paths.rtl_resources / "resources.json", references=())
    mac = next(row for row in rows if row.module == "mac_tile")
    return (f"{len(rows)} units; mac_tile {mac.lut} LUT, {mac.ff} FF, {mac.dsp} DSP")


def report_stage(paths: Paths) -> str:
    from edgemoe.model.report.cli import report

    report.main([str(paths.artifact), "--checkpoint", str(paths.checkpoint), "-o",
                  str(paths.reports), "--rtl", str(paths.rtl_resources)],
                 standalone_mode=False)
    return f"{paths.reports / 'index.html'}"


def flow(config: str = "tiny") -> tuple[Paths, list[Stage]]:
    """The demo's stages for ``config`` (a config name or a .yaml/.json file)."""
    from edgemoe.sim.config_file import load_config_file

    document = load_config_file(config)
    paths = Paths(document["model"]["name"])
    checkpoint, artifact, results = paths.checkpoint, paths.artifact, paths.results
    simulator = rtl_simulator()
    csim = f"edgemoe hls csim {artifact} -o {paths.hls_project}"
    rtl = f"edgemoe rtl test {paths.rtl_dir} --simulator {simulator} --quick"
    board = f"edgemoe run {artifact} --emulate sim --validate {VALIDATE_IMAGES}"
    stages = [
        Stage("train", "train the float model as its config says",
              lambda: train_stage(document, paths), f"edgemoe train --config {config}",
              params={"document": document}, modules=("edgemoe.model.train",),
              outputs=(checkpoint, paths.run_dir / "config.yaml")),
        Stage("eval", "float metrics per task, single-task paths, baseline",
              lambda: evaluate_stage(paths),
              f"edgemoe eval {checkpoint} --json {paths.metrics}",
              inputs=(checkpoint,), modules=("edgemoe.model.cli",), outputs=(paths.metrics,)),
        Stage("quantize", f"calibrate {PRESET}, float vs fixed per task and layer",
              lambda: quantize_stage(paths),
              f"edgemoe quantize {checkpoint} --preset {PRESET} -o {results}",
              inputs=(checkpoint,), params={"preset": PRESET}, modules=("edgemoe.model.cli",),
              outputs=(results / "quantization.json", results / "quantization_sqnr.png")),
        Stage("export", f"the {PRESET} artifact: manifest, weights, golden vectors, ONNX",
              lambda: export_stage(paths),
              f"edgemoe export {checkpoint} --preset {PRESET} -o {artifact}",
              inputs=(checkpoint,), params={"preset": PRESET}, modules=("edgemoe.model.cli",),
              outputs=(artifact,)),
        Stage("hls", "generate the Vitis HLS project", lambda: hls_stage(paths),
              f"edgemoe hls generate {artifact} -o {paths.hls_project}",
              inputs=(artifact,), modules=("edgemoe.hls.generator",),
              data=("hls/templates/project",), outputs=(paths.hls_project,)),
        Stage("csim", "g++ C simulation, every layer against the simulator",
              lambda: csim_stage(paths, csim), csim,
              inputs=(artifact, paths.hls_project), modules=("edgemoe.hls.csim",),
              data=("hls/include",), outputs=(results / RECORDS["csim"],)),
        Stage("rtl-generate", "the Verilog units at the artifact's formats",
              lambda: rtl_generate_stage(paths),
              f"edgemoe rtl generate --artifact {artifact} -o {paths.rtl_dir}",
              inputs=(artifact / "manifest.json",),
              modules=("edgemoe.hls.rtl.generate", "edgemoe.sim.unit_specs"),
              data=("hls/templates/rtl",), outputs=(paths.rtl_dir,)),
        Stage("rtl", f"cocotb unit tests, quick subset, on {simulator}",
              lambda: rtl_test_stage(paths, simulator, rtl), rtl,
              inputs=(paths.rtl_dir,),
              params={"simulator": simulator, "samples": RTL_QUICK_SAMPLES},
              modules=("edgemoe.hls.rtl.check", "edgemoe.sim.testbenches.units_tb"),
              outputs=(results / RECORDS["rtl units"],)),
        Stage("board", "host driver on the emulated board, every task, validated",
              lambda: board_stage(paths, board), board,
              inputs=(artifact,), params={"images": VALIDATE_IMAGES},
              modules=("edgemoe.host.driver", "edgemoe.host.emulator", "edgemoe.host.validate"),
              outputs=(results / RECORDS["emulated board (sim)"],)),
        Stage("rtl-estimate", "yosys synth_xilinx: each unit's LUT, FF, DSP, BRAM",
              lambda: rtl_estimate_stage(paths),
              f"edgemoe rtl estimate {paths.rtl_dir} --json {paths.rtl_resources}/resources.json",
              inputs=(paths.rtl_dir,), modules=("edgemoe.hls.rtl.estimate",),
              outputs=(paths.rtl_resources,)),
        Stage("report", "the HTML report of every stage", lambda: report_stage(paths),
              f"edgemoe report {artifact} --checkpoint {checkpoint} -o {paths.reports} "
              f"--rtl {paths.rtl_resources}",
              inputs=(artifact, checkpoint, results, paths.rtl_resources),
              modules=("edgemoe.model.report.cli",), data=("model/report/templates",),
              outputs=(paths.reports / "index.html",)),
    ]
    return paths, stages
