"""Where derived files are cached (compiled csim programs, generated data sets), and the
content hashes that say whether a derived file is still current."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

IGNORED = ("__pycache__",)


def cache_dir() -> Path:
    """``$EDGEMOE_CACHE``, else ``$XDG_CACHE_HOME/edgemoe``, else ``~/.cache/edgemoe``."""
    if "EDGEMOE_CACHE" in os.environ:
        return Path(os.environ["EDGEMOE_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "edgemoe"


def build_lock(name: str) -> Any:
    """An inter-process lock for building the cached file ``name`` (pytest -n, several Ray
    workers on one machine): the second builder waits and then finds the file. Locks live
    apart from what they guard."""
    from filelock import FileLock

    folder = cache_dir() / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"{name}.lock"))


def content_digest(path: Path) -> str | None:
    """SHA-256 of a file's bytes, or of a folder's files (each one's relative path and
    content, in order; ``__pycache__`` left out); None when nothing is there."""
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    if not path.is_dir():
        return None
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path)
        if any(part in IGNORED for part in relative.parts):
            continue
        digest.update(relative.as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(file.read_bytes()).hexdigest().encode())
    return digest.hexdigest()
