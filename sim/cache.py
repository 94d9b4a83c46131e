"""Where derived files are cached: compiled csim programs, generated data sets."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$EDGEMOE_CACHE``, else ``$XDG_CACHE_HOME/edgemoe``, else ``~/.cache/edgemoe``."""
    if "EDGEMOE_CACHE" in os.environ:
        return Path(os.environ["EDGEMOE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgemoe"
