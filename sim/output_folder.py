"""Output folders the tools write, without ever touching what they did not write.

A folder edgemoe writes into carries a marker, ``.edgemoe-output.json``, listing the files
each tool wrote there. A tool fills a scratch folder beside the target, then moves its
files in one by one (each move atomic) and removes the files it wrote last time that it
no longer writes; everything else stays: a user's notes, ``hls_project/`` and
``bitstream/`` beside a generated HLS project, another tool's reports. An existing folder
without the marker that holds anything is refused by name unless ``force`` is given (then
it is emptied first), and so is a path that is a file.

The marker is written before the first move (listing the old and the new files) and again
after the last, so a run killed half way leaves a folder the next run can clean; scratch
folders of processes that no longer run are removed by the next run beside them.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .atomic import atomic_path
from .identifiers import RELATIVE_PATH

MARKER = ".edgemoe-output.json"
_SCRATCH = ".edgemoe-scratch-"


class OutputError(ValueError):
    """An output path the tool may not write to."""


def _marker(target: Path) -> dict[str, list[str]] | None:
    """Files per tool as the marker lists them (only paths inside ``target``), or None."""
    path = target / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        files = data["files"]
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {tool: [f for f in entries if isinstance(f, str) and RELATIVE_PATH.match(f)]
            for tool, entries in files.items() if isinstance(tool, str)
            and isinstance(entries, list)}


def _write_marker(target: Path, files: dict[str, list[str]]) -> None:
    with atomic_path(target / MARKER) as partial:
        partial.write_text(json.dumps({"written_by": "edgemoe", "files": files}, indent=1,
                                      sort_keys=True) + "\n")


def check_output_folder(target: str | Path, force: bool = False) -> None:
    """Refuse, naming it, a target that is a file or a foreign non-empty folder (unless
    ``force``): call before expensive work, so nothing is computed in vain."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} is a file; give a folder to write into")
    if target.is_dir() and not force and not _ours(target):
        present = sorted(p.name for p in target.iterdir())
        shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
        raise OutputError(f"{target} exists and holds files edgemoe did not write "
                          f"({shown}); choose another folder, or pass --force to "
                          "replace it")


def _ours(folder: Path) -> bool:
    """Whether edgemoe may write into ``folder``: it carries the marker, or holds nothing
    but folders that do (``reports/NAME`` around a ``results/`` another tool wrote)."""
    if _marker(folder) is not None:
        return True
    return all(entry.is_dir() and not entry.is_symlink() and _ours(entry)
               for entry in folder.iterdir())


def _clean_stale_scratch(parent: Path, name: str) -> None:
    for folder in parent.glob(f".{name}{_SCRATCH}*"):
        pid = folder.name.rsplit(_SCRATCH, 1)[1].split("-")[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())


def _in_the_way(target: Path, relative: str, ours: set[str]) -> Path | None:
    """What keeps ``relative`` from being written: a folder on its way that is a file or a
    link, or a file there that no edgemoe tool wrote."""
    for parent in reversed(Path(relative).parents[:-1]):
        folder = target / parent
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return folder
    destination = target / relative
    if destination.is_symlink() or destination.is_dir():
        return destination
    if destination.exists() and relative not in ours:
        return destination
    return None


def _commit(scratch: Path, target: Path, tool: str, force: bool) -> None:
    marker = _marker(target)
    if marker is None and target.is_dir() and force:
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    marker = marker or {}
    ours = {f for files in marker.values() for f in files}
    new = _files(scratch)
    for relative in new:  # refuse before moving anything
        blocking = _in_the_way(target, relative, ours)
        if blocking is not None:
            raise OutputError(f"{blocking} is in the way and edgemoe did not write it; move "
                              "it away and run again")
    old = marker.get(tool, [])
    _write_marker(target, {**marker, tool: sorted(set(old) | set(new))})
    for relative in new:
        (target / relative).parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch / relative, target / relative)
    for relative in sorted(set(old) - set(new)):
        stale = target / relative
        if stale.is_file() and not stale.is_symlink():
            stale.unlink(missing_ok=True)
            for parent in stale.parents:
                if parent == target or not parent.is_relative_to(target):
                    break
                with contextlib.suppress(OSError):
                    parent.rmdir()  # only when empty
    _write_marker(target, {**(_marker(target) or {}), tool: new})


@contextlib.contextmanager
def output_folder(target: str | Path, tool: str, force: bool = False) -> Iterator[Path]:
    """A fresh scratch folder for the block to fill; when the block succeeds its files
    replace the ones ``tool`` wrote into ``target`` before (nothing else is touched), and
    when it raises ``target`` is left as it was."""
    target = Path(target)
    check_output_folder(target, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_scratch(target.parent, target.name)
    scratch = target.parent / f".{target.name}{_SCRATCH}{os.getpid()}-{secrets.token_hex(4)}"
    scratch.mkdir()
    try:
        yield scratch
        _commit(scratch, target, tool, force)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
