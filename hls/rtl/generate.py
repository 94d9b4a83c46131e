"""``edgemoe rtl generate``: the datapath units (and ``vector_kernel``) as Verilog files.

The formats come from an artifact's quantization spec (one layer's, the units are the same
for every layer up to their formats) or, without one, from the int16 preset's defaults in
``sim.approx.default_domains``. Beside the Verilog, ``units.json`` lists every unit with
its latency and formats, and ``manifest.json`` describes ``vector_kernel``'s interface the
way an artifact's manifest describes the accelerator's, for ``edgemoe rtl cosim``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jinja2

from edgemoe.sim.atomic import atomic_directory
from edgemoe.sim.unit_specs import UnitSpecs

from .units import (
    UnitPlan,
    exp_plan,
    gelu_plan,
    literal,
    mac_tile_plan,
    reciprocal_plan,
    rsqrt_plan,
    softmax_finalize_plan,
    softmax_update_plan,
)
from .vector_kernel import vector_kernel_manifest, vector_kernel_plan

TEMPLATES = Path(__file__).parent.parent / "templates" / "rtl"
UNITS_FILE = "units.json"


def unit_plans(specs: UnitSpecs) -> list[UnitPlan]:
    """Every unit's plan; raises RtlError for a spec the templates cannot implement."""
    return [gelu_plan(specs.gelu), exp_plan(specs.exp), reciprocal_plan(specs.reciprocal),
            rsqrt_plan(specs.rsqrt), softmax_update_plan(specs.softmax, specs.score_fmt),
            softmax_finalize_plan(specs.softmax, specs.score_fmt), mac_tile_plan(specs.mac),
            vector_kernel_plan(specs.vector)]



def _sign_extend(signal: str, width: int, to: int) -> str:
    if to < width:
        raise ValueError(f"cannot extend {signal} from {width} to {to} bits")
    return signal if to == width else f"{{{{{to - width}{{{signal}[{width - 1}]}}}}, {signal}}}"


def _zero_extend(signal: str, width: int, to: int) -> str:
    if to < width:
        raise ValueError(f"cannot extend {signal} from {width} to {to} bits")
    return signal if to == width else f"{{{to - width}'b0, {signal}}}"


def environment() -> jinja2.Environment:
    """Jinja2 with ``${ }`` for values, so Verilog's ``{{n{bit}}, x}`` stays as written."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                             trim_blocks=True, lstrip_blocks=True,
                             variable_start_string="${", variable_end_string="}")
    env.globals.update(sext=_sign_extend, zext=_zero_extend, lit=literal)
    return env


def render(plan: UnitPlan) -> str:
    env = environment()
    score = plan.context.get("score")
    if score:  # widen a score to a difference: by its sign bit when it has one
        extend = _sign_extend if score["signed"] else _zero_extend
        env.globals["extend"] = lambda s: extend(s, score["width"], score["width"] + 1)
    return env.get_template(plan.template).render(latency=plan.latency, **plan.context)


def generate_rtl(out_dir: str | Path, specs: UnitSpecs | None = None) -> Path:
    """Write every unit's Verilog, ``units.json`` and vector_kernel's ``manifest.json``."""
    specs = specs or UnitSpecs.defaults()
    plans = unit_plans(specs)  # refuses an unimplementable spec before anything is written
    sources = {plan.module: render(plan) for plan in plans}
    out_dir = Path(out_dir)
    with atomic_directory(out_dir) as scratch:
        shutil.copyfile(TEMPLATES / "fixed_cast.v", scratch / "fixed_cast.v")
        for module, text in sources.items():
            (scratch / f"{module}.v").write_text(text)
        units = {plan.module: {"file": f"{plan.module}.v", "latency": plan.latency,
                               "depends": list(plan.depends)} for plan in plans}
        units["fixed_cast"] = {"file": "fixed_cast.v", "latency": 0, "depends": []}
        (scratch / UNITS_FILE).write_text(json.dumps(
            {"specs": specs.to_dict(), "units": units}, indent=2))
        (scratch / "manifest.json").write_text(json.dumps(
            {**vector_kernel_manifest(specs.vector), "specs": specs.to_dict()}, indent=2))
    return out_dir


def unit_sources(rtl_dir: Path, module: str) -> list[Path]:
    """The files ``module`` needs, dependencies first, from a generated folder."""
    units = json.loads((rtl_dir / UNITS_FILE).read_text())["units"]
    ordered: list[str] = []

    def visit(name: str) -> None:
        for dependency in units[name]["depends"]:
            visit(dependency)
        if name not in ordered:
            ordered.append(name)

    visit(module)
    return [rtl_dir / units[name]["file"] for name in ordered]
