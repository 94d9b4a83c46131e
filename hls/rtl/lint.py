"""Verilator's linter over the generated Verilog: ``--lint-only -Wall``, every module."""

from __future__ import annotations

import subprocess
from pathlib import Path

from edgemoe.hls.rtl.verilator_tool import verilator_env

from .generate import read_units, unit_sources


class LintError(RuntimeError):
    """Verilator warned about, or rejected, a generated module."""


def lint(rtl_dir: str | Path) -> list[str]:
    """Lint every unit of a generated folder as its own top; returns the modules checked."""
    rtl_dir = Path(rtl_dir)
    units = read_units(rtl_dir).units
    for module in units:
        sources = unit_sources(rtl_dir, module)
        done = subprocess.run(["verilator", "--lint-only", "-Wall", "--top-module", module,
                               *map(str, sources)], env=verilator_env(), capture_output=True,
                              text=True, timeout=300)
        if done.returncode:
            raise LintError(f"verilator --lint-only -Wall rejects {module}:\n"
                            f"{done.stderr.strip()[-3000:]}")
    return list(units)
