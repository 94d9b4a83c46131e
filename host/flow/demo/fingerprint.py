"""Content hashes of what a stage reads: files, folders, and the project code it runs.

A stage's code version is the hash of the source of the modules it names and of every
project module those import, followed transitively (imports inside functions too, since
the flow imports lazily), plus any data files it names (templates). Editing a module the
stage never imports leaves its version unchanged.
"""

from __future__ import annotations

import ast
import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from edgemoe.sim.artifact import sha256_of
from edgemoe.sim.cache import content_digest

PACKAGE = "edgemoe"
# The folder holding model/, sim/, hls/ and host/: the repository in an editable
# install, site-packages/edgemoe in a wheel's.
SOURCE_ROOT = Path(__file__).resolve().parents[3]


def hash_value(value: Any) -> str:
    """A JSON-able value (parameters), independent of dict order."""
    return sha256_of(json.dumps(value, sort_keys=True, default=str).encode())


def module_file(name: str) -> Path | None:
    """The source file of project module ``name`` (``edgemoe.sim.atomic``), or None."""
    parts = name.split(".")
    if parts[0] != PACKAGE or len(parts) < 2:
        return None
    base = SOURCE_ROOT.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported_names(module: str, source: Path) -> set[str]:
    """Every module name ``source`` may import, anywhere in it; ``from a import b`` gives
    both ``a`` and ``a.b`` (b may be a submodule)."""
    package = module.split(".") if source.name == "__init__.py" else module.split(".")[:-1]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text(), str(source))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[:len(package) - node.level + 1]) if node.level else ""
            target = ".".join(p for p in (base, node.module) if p)
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)
    return names


def code_files(modules: Iterable[str]) -> list[Path]:
    """The source files of ``modules`` and of the project modules they import."""
    found: dict[str, Path] = {}
    pending = []
    for name in modules:
        if module_file(name) is None:
            raise ValueError(f"no project module {name!r} under {SOURCE_ROOT}")
        pending.append(name)
    while pending:
        name = pending.pop()
        source = module_file(name)
        if name in found or source is None:
            continue
        found[name] = source
        pending.extend(imported_names(name, source))
    return sorted(set(found.values()))


def code_version(modules: Iterable[str], data: Iterable[str] = ()) -> str:
    """One hash of the modules' code (imports followed) and of the data paths, which are
    relative to the source root (``hls/templates/project``)."""
    digest = hashlib.sha256()
    for file in code_files(modules):
        digest.update(file.relative_to(SOURCE_ROOT).as_posix().encode() + b"\0")
        digest.update(sha256_of(file.read_bytes()).encode())
    for name in data:
        found = content_digest(SOURCE_ROOT / name)
        if found is None:
            raise ValueError(f"no data file or folder {name!r} under {SOURCE_ROOT}")
        digest.update(name.encode() + b"\0" + found.encode())
    return digest.hexdigest()


def fingerprint(files: Iterable[Path], params: Mapping[str, Any], modules: Iterable[str],
                data: Iterable[str] = ()) -> dict[str, str]:
    """What a stage's result depends on, one hash per part (so a change can be named)."""
    parts = {"code": code_version(modules, data), "parameters": hash_value(dict(params))}
    for path in files:
        parts[str(path)] = content_digest(path) or "missing"
    return parts
