"""Where the HLS headers for C simulation come from.

``ap_fixed.h``, ``ap_int.h`` and ``hls_stream.h`` are Xilinx's own, shipped (Apache-2.0)
inside the hls4ml wheel; we only read its files and never import hls4ml, whose import
pulls a machine-learning stack. ``hls_vector.h`` is our shim in ``include/``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

AP_TYPES_SUBDIR = Path("templates", "vivado", "ap_types")
REQUIRED_HEADERS = ("ap_fixed.h", "ap_int.h", "hls_stream.h")
SHIM_DIR = Path(__file__).parent / "include"


class HeadersNotFoundError(RuntimeError):
    """The ap_types headers are not installed."""


def ap_types_dir() -> Path:
    """Folder holding ap_fixed.h and friends, from the installed hls4ml wheel."""
    spec = importlib.util.find_spec("hls4ml")
    if spec is None or not spec.submodule_search_locations:
        raise HeadersNotFoundError(
            "the ap_fixed headers come from the hls4ml wheel, which is not installed; "
            "run: pip install 'edgemoe[hls]'")
    for root in spec.submodule_search_locations:
        folder = Path(root) / AP_TYPES_SUBDIR
        if all((folder / name).is_file() for name in REQUIRED_HEADERS):
            return folder
    raise HeadersNotFoundError(
        f"hls4ml is installed but has no {'/'.join(AP_TYPES_SUBDIR.parts)}/ with "
        f"{', '.join(REQUIRED_HEADERS)}; reinstall it: pip install 'edgemoe[hls]'")


def include_dirs() -> list[Path]:
    """Include path for C simulation: our shims, then Xilinx's ap_types."""
    return [SHIM_DIR, ap_types_dir()]
