"""``edgemoe rtl generate``: the datapath units (and ``vector_kernel``) as Verilog files.

The formats come from an artifact's quantization spec (one layer's, the units are the same
for every layer up to their formats) or, without one, from the int16 preset's defaults in
``sim.approx.default_domains``. Beside the Verilog, ``units.json`` lists every unit with
its latency and formats, and ``manifest.json`` describes ``vector_kernel``'s interface the
way an artifact's manifest describes the accelerator's, for ``edgemoe rtl cosim``.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2
from pydantic import ValidationError, model_validator

from edgemoe.sim.output_folder import output_folder
from edgemoe.sim.schema import Count, Identifier, Record, RelativePath, describe
from edgemoe.sim.unit_specs import UnitSpecs

from .units import (
    RtlError,
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
from .vector_kernel import MANIFEST_FILE, vector_kernel_manifest, vector_kernel_plan

TEMPLATES = Path(__file__).parent.parent / "templates" / "rtl"
UNITS_FILE = "units.json"


class UnitEntry(Record):
    file: RelativePath
    latency: Count
    depends: tuple[Identifier, ...]


class UnitsFile(Record):
    """``units.json``: every unit's file, latency and dependencies, and the specs the units
    were generated from (the cocotb testbenches compute their expected outputs from them)."""

    specs: dict[str, Any]
    units: dict[Identifier, UnitEntry]

    @model_validator(mode="after")
    def _what_the_specs_give(self) -> UnitsFile:
        """Each unit under its own file name, with the latency and dependencies its plan
        has for these specs (which read back typed and in range)."""
        if self.units != unit_entries(unit_plans(UnitSpecs.from_dict(self.specs))):
            raise ValueError("units are not the ones these specs give (files, latencies, "
                             "dependencies)")
        return self

    @property
    def unit_specs(self) -> UnitSpecs:
        return UnitSpecs.from_dict(self.specs)


def unit_entries(plans: list[UnitPlan]) -> dict[str, UnitEntry]:
    """What ``units.json`` lists for these plans: each module's file, latency, needs."""
    entries = {plan.module: UnitEntry(file=f"{plan.module}.v", latency=plan.latency,
                                      depends=plan.depends) for plan in plans}
    entries["fixed_cast"] = UnitEntry(file="fixed_cast.v", latency=0, depends=())
    return entries


def read_units(rtl_dir: Path) -> UnitsFile:
    """The folder's ``units.json``, validated, or an RtlError naming the problem."""
    path = Path(rtl_dir) / UNITS_FILE
    if not path.is_file():
        raise RtlError(f"{rtl_dir} is not a generated RTL folder: no {UNITS_FILE} (run "
                       "`edgemoe rtl generate`)")
    try:
        return UnitsFile.model_validate_json(path.read_bytes())
    except ValidationError as err:
        raise RtlError(describe(err, str(path))) from None


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


def generate_rtl(out_dir: str | Path, specs: UnitSpecs | None = None,
                 force: bool = False) -> Path:
    """Write every unit's Verilog, ``units.json`` and vector_kernel's ``manifest.json``
    (nothing else in ``out_dir`` is touched)."""
    specs = specs or UnitSpecs.defaults()
    plans = unit_plans(specs)  # refuses an unimplementable spec before anything is written
    sources = {plan.module: render(plan) for plan in plans}
    out_dir = Path(out_dir)
    with output_folder(out_dir, "rtl generate", force, forceable=True) as scratch:
        shutil.copyfile(TEMPLATES / "fixed_cast.v", scratch / "fixed_cast.v")
        for module, text in sources.items():
            (scratch / f"{module}.v").write_text(text)
        (scratch / UNITS_FILE).write_text(UnitsFile.model_construct(
            specs=specs.to_dict(), units=unit_entries(plans)).model_dump_json(indent=2))
        (scratch / MANIFEST_FILE).write_text(
            vector_kernel_manifest(specs).model_dump_json(indent=2))
    return out_dir


def unit_sources(rtl_dir: Path, module: str) -> list[Path]:
    """The files ``module`` needs, dependencies first, from a generated folder (each inside
    it)."""
    units = read_units(rtl_dir).units
    if module not in units:
        raise RtlError(f"{rtl_dir} has no unit {module!r}; it has {sorted(units)}")
    ordered: list[str] = []

    def visit(name: str, seen: tuple[str, ...] = ()) -> None:
        if name in seen:
            raise RtlError(f"{UNITS_FILE}: {name} depends on itself")
        for dependency in units[name].depends:
            visit(dependency, (*seen, name))
        if name not in ordered:
            ordered.append(name)

    visit(module)
    root = Path(rtl_dir).resolve()
    sources = [(Path(rtl_dir) / units[name].file).resolve() for name in ordered]
    outside = [s for s in sources if not s.is_relative_to(root)]
    if outside:
        raise RtlError(f"{UNITS_FILE} names {outside[0]}, outside {rtl_dir}")
    return sources
