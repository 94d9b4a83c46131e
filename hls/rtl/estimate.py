"""``edgemoe rtl estimate``: rough Xilinx resources of each unit from yosys ``synth_xilinx``.

yosys maps to UltraScale+ primitives (``-family xcup``); the counts are an estimate, not
Vivado's. Beside GELU and exp stand the naive circuits they replace: a table with an entry
for every 16-bit input (one ROM of 2^16 words), so the saving of table + interpolation
shows. Results are printed as a table and saved as JSON for the report.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgemoe.sim.approx import ExpSpec, GeluSpec
from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.identifiers import identifier

from .generate import read_units, unit_sources

ESTIMATED_UNITS = ("gelu_unit", "exp_unit", "recip_unit", "rsqrt_unit", "softmax_update",
                   "softmax_finalize", "mac_tile")
FLIP_FLOPS = ("FDRE", "FDSE", "FDCE", "FDPE")


class EstimateError(RuntimeError):
    """yosys is missing or failed."""


@dataclass(frozen=True)
class Resources:
    module: str
    lut: int
    ff: int
    dsp: int
    bram36: float
    lutram: int
    note: str = ""


def _count(cells: dict[str, int], module: str, note: str = "") -> Resources:
    lut = sum(n for cell, n in cells.items() if cell.startswith("LUT"))
    lutram = sum(n for cell, n in cells.items() if cell.startswith(("RAM32", "RAM64", "RAM128",
                                                                    "RAM256", "SRL")))
    bram = cells.get("RAMB36E2", 0) + cells.get("RAMB18E2", 0) / 2
    return Resources(module, lut, sum(cells.get(c, 0) for c in FLIP_FLOPS),
                     cells.get("DSP48E2", 0), bram, lutram, note)


def synthesize(sources: list[Path], top: str, note: str = "") -> Resources:
    """``synth_xilinx -family xcup`` of ``top`` (flattened, no I/O buffers) and its cells.

    The sources (and the ``.hex`` tables beside them, which ``$readmemh`` reads from the
    working folder) are copied under plain names into yosys's own folder, so no path of the
    user's reaches the yosys script."""
    if shutil.which("yosys") is None:
        raise EstimateError("yosys is not installed (Debian: apt-get install yosys)")
    identifier(top)
    with tempfile.TemporaryDirectory(prefix="edgemoe-yosys-") as tmp:
        folder = Path(tmp)
        for table in {t for source in sources for t in source.parent.glob("*.hex")}:
            shutil.copyfile(table, folder / table.name)
        names = []
        for index, source in enumerate(sources):
            names.append(f"source_{index}.v")
            shutil.copyfile(source, folder / names[-1])
        stat = folder / "stat.json"
        script = (f"read_verilog {' '.join(names)}; "
                  f"synth_xilinx -family xcup -flatten -noiopad -top {top}; "
                  f"tee -q -o stat.json stat -json")
        done = subprocess.run(["yosys", "-q", "-p", script], capture_output=True, text=True,
                              cwd=folder, timeout=1800)
        if done.returncode or not stat.is_file():
            raise EstimateError(f"yosys failed on {top}: {done.stderr.strip()[-2000:]}")
        modules = json.loads(stat.read_text())["modules"]
    cells = next(v for k, v in modules.items() if k.lstrip("\\") == top)["num_cells_by_type"]
    return _count(cells, top, note)


def _full_table(name: str, spec: GeluSpec | ExpSpec, folder: Path) -> Path:
    """A ROM holding the unit's output for every input: the naive circuit."""
    fmt, out = spec.input_fmt, spec.output_fmt
    raw = FixedArray._trusted(np.arange(fmt.min_raw, fmt.max_raw + 1), fmt)
    values = spec(raw).raw & ((1 << out.width) - 1)
    # the ROM is addressed by the input's raw bits, so entry i holds f(i as two's complement)
    order = (raw.raw & ((1 << fmt.width) - 1)).argsort()
    hex_file = folder / f"{name}.hex"
    hex_file.write_text("\n".join(f"{int(v):x}" for v in values[order]) + "\n")
    source = folder / f"{name}.v"
    source.write_text(f"""module {name} (
    input  wire clk,
    input  wire [{fmt.width - 1}:0] in_data,
    output reg  [{out.width - 1}:0] out_data
);
    reg [{out.width - 1}:0] rom [0:{2**fmt.width - 1}];
    initial $readmemh("{hex_file.name}", rom);
    always @(posedge clk) out_data <= rom[in_data];
endmodule
""")
    return source


REFERENCES = ("gelu_full_table", "exp_full_table")


def estimate(rtl_dir: str | Path, out_json: str | Path | None = None,
             units: tuple[str, ...] = ESTIMATED_UNITS,
             references: tuple[str, ...] = REFERENCES) -> list[Resources]:
    rtl_dir = Path(rtl_dir)
    specs = read_units(rtl_dir).unit_specs
    rows = [synthesize(unit_sources(rtl_dir, unit), unit) for unit in units]
    if references:
        with tempfile.TemporaryDirectory(prefix="edgemoe-reference-") as tmp:
            folder = Path(tmp)
            for name, spec in (("gelu_full_table", specs.gelu), ("exp_full_table", specs.exp)):
                if name in references and spec.input_fmt.width <= 16:
                    rows.append(synthesize([_full_table(name, spec, folder)], name,
                                           "naive: a ROM entry per input"))
    if out_json:
        with atomic_path(out_json) as path:
            path.write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return rows


def table(rows: list[Resources]) -> str:
    lines = [f"{'module':18} {'LUT':>6} {'FF':>6} {'DSP':>4} {'BRAM36':>7} {'LUTRAM':>6}  note"]
    lines += [f"{r.module:18} {r.lut:>6} {r.ff:>6} {r.dsp:>4} {r.bram36:>7.1f} {r.lutram:>6}  "
              f"{r.note}" for r in rows]
    return "\n".join(lines)
