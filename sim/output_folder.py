"""Output folders the tools write, without ever touching what they did not write.

A folder edgemoe writes into carries a marker, ``.edgemoe-output.json``, listing the files
each tool wrote there with their SHA-256. A tool fills a scratch folder beside the target,
then moves its files in one by one (each move atomic) and removes the files it wrote last
time that it no longer writes; everything else stays: a user's notes, ``hls_project/`` and
``bitstream/`` beside a generated HLS project, another tool's reports. A file is removed
only when the marker lists it and its bytes are still the ones edgemoe wrote, and only
through folders that are not symbolic links; a file of the tool's own that someone edited
is moved aside as ``NAME.edited`` before the new one takes its place. An existing folder
without the marker that holds anything is refused by name unless ``force`` is given (then
it is emptied first), and so is a path that is a file.

Commits to one folder take turns (an advisory lock on the folder). The marker is
written before the first move (listing the old and the new bytes of every file) and again
after the last, so a run killed half way leaves a folder the next run can clean; scratch
folders of processes that no longer run are removed by the next run beside them.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Iterator
from pathlib import Path

from .atomic import atomic_path
from .identifiers import RELATIVE_PATH, SHA256

LOG = logging.getLogger(__name__)
MARKER = ".edgemoe-output.json"
_SCRATCH = ".edgemoe-scratch-"

#: tool -> relative path -> the SHA-256s the file may have (one, or two while replacing)
Listing = dict[str, dict[str, list[str]]]


class OutputError(ValueError):
    """An output path the tool may not write to."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _marker(target: Path) -> Listing | None:
    """The marker's listing (only well-formed entries inside ``target``), or None."""
    path = target / MARKER
    if path.is_symlink() or not path.is_file():
        return None
    try:
        files = json.loads(path.read_text())["files"]
    except (ValueError, KeyError, TypeError, RecursionError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {tool: {name: [h for h in hashes if isinstance(h, str) and SHA256.match(h)]
                   for name, hashes in entries.items()
                   if isinstance(name, str) and RELATIVE_PATH.match(name)
                   and isinstance(hashes, list)}
            for tool, entries in files.items()
            if isinstance(tool, str) and isinstance(entries, dict)}


def _write_marker(target: Path, listing: Listing) -> None:
    with atomic_path(target / MARKER) as partial:
        partial.write_text(json.dumps({"written_by": "edgemoe", "files": listing}, indent=1,
                                      sort_keys=True) + "\n")


def check_output_folder(target: str | Path, force: bool = False,
                        forceable: bool = False) -> None:
    """Refuse, naming it, a target that is a file or a foreign non-empty folder (unless
    ``force``): call before expensive work, so nothing is computed in vain. ``forceable``
    says the command offers ``--force``, so the message can point to it."""
    target = Path(target)
    if target.exists() and not target.is_dir():
        raise OutputError(f"{target} is a file; give a folder to write into")
    if target.is_dir() and not force and not _ours(target):
        present = sorted(p.name for p in target.iterdir())
        shown = ", ".join(present[:3]) + (", ..." if len(present) > 3 else "")
        hint = "pass --force to replace it" if forceable else "empty it first"
        raise OutputError(f"{target} exists and holds files edgemoe did not write "
                          f"({shown}); choose another folder, or {hint}")


def _ours(folder: Path) -> bool:
    """Whether edgemoe may write into ``folder``: it carries the marker, or holds nothing
    but folders that do (``reports/NAME`` around a ``results/`` another tool wrote)."""
    if _marker(folder) is not None:
        return True
    return all(entry.is_dir() and not entry.is_symlink() and _ours(entry)
               for entry in folder.iterdir())


def _clean_stale_scratch(parent: Path, name: str) -> None:
    prefix = f".{name}{_SCRATCH}"
    for folder in parent.iterdir():
        if not folder.name.startswith(prefix) or folder.is_symlink():
            continue
        pid = folder.name[len(prefix):].split("-")[0]
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


def _through_real_folders(target: Path, relative: str) -> bool:
    """Whether every folder between ``target`` and ``relative`` is a real folder (no link
    that could lead the write or the removal somewhere else)."""
    for parent in reversed(Path(relative).parents[:-1]):
        folder = target / parent
        if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
            return False
    return True


def _unchanged(path: Path, hashes: list[str]) -> bool:
    """A regular file whose bytes are among the ones edgemoe wrote there."""
    return (path.is_file() and not path.is_symlink()) and _sha256(path) in hashes


def _in_the_way(target: Path, relative: str, owned: dict[str, list[str]],
                ours: dict[str, list[str]]) -> str | None:
    """Why ``relative`` cannot be written, or None: a folder on its way that is a file or a
    link, a file there that edgemoe did not write, or another tool's file changed since
    (this tool's own file, changed since, is kept aside instead)."""
    destination = target / relative
    if not _through_real_folders(target, relative):
        return f"{destination} lies behind a link or a file"
    if destination.is_symlink() or destination.is_dir():
        return f"{destination} is a link or a folder"
    if destination.exists() and relative not in owned:
        return f"{destination} is in the way and edgemoe did not write it"
    if (destination.exists() and relative not in ours
            and not _unchanged(destination, owned[relative])):
        return f"{destination} changed since edgemoe wrote it"
    return None


def _keep_aside(path: Path) -> Path:
    """Move an edited copy of a generated file out of the way, beside it: nothing a person
    wrote is lost when the file is generated again."""
    aside = path.with_name(f"{path.name}.edited")
    count = 1
    while aside.exists() or aside.is_symlink():
        count += 1
        aside = path.with_name(f"{path.name}.edited-{count}")
    os.replace(path, aside)
    LOG.warning("%s was edited since edgemoe wrote it: kept as %s", path, aside.name)
    return aside


@contextlib.contextmanager
def _turn(target: Path) -> Iterator[None]:
    """One commit at a time into ``target``: an advisory lock on the folder itself,
    released on exit or when the process dies."""
    folder = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(folder, fcntl.LOCK_EX)
        yield
    finally:
        os.close(folder)  # releases the lock


def _remove(target: Path, relative: str, hashes: list[str]) -> None:
    """Delete a file edgemoe wrote, if it is still as written, and the folders it leaves
    empty."""
    stale = target / relative
    if not _through_real_folders(target, relative) or not _unchanged(stale, hashes):
        return
    stale.unlink(missing_ok=True)
    for parent in stale.parents:
        if parent == target or not parent.is_relative_to(target):
            break
        with contextlib.suppress(OSError):
            parent.rmdir()  # only when empty


def _commit(scratch: Path, target: Path, tool: str, force: bool) -> None:
    if _marker(target) is None and target.is_dir() and force:
        if target.is_symlink():
            raise OutputError(f"{target} is a link; give the folder itself")
        shutil.rmtree(target)
    target.mkdir(parents=True, exist_ok=True)
    with _turn(target):
        listing = _marker(target) or {}
        owned = {name: hashes for files in listing.values() for name, hashes in files.items()}
        new = {relative: [_sha256(scratch / relative)] for relative in _files(scratch)}
        old = listing.get(tool, {})
        for relative in new:  # refuse before moving anything
            reason = _in_the_way(target, relative, owned, old)
            if reason is not None:
                raise OutputError(f"{reason}; move it away and run again")
        edited = [target / r for r in new if (target / r).exists()
                  and not _unchanged(target / r, owned[r])]
        others = {name: {path: hashes for path, hashes in files.items() if path not in new}
                  for name, files in listing.items() if name != tool}
        replacing = {path: sorted(set(owned.get(path, [])) | set(hashes))
                     for path, hashes in new.items()}
        _write_marker(target, {**others, tool: {**old, **replacing}})
        for path in edited:
            _keep_aside(path)
        for relative in new:
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            os.replace(scratch / relative, target / relative)
        still_listed = {path for files in others.values() for path in files}
        for relative, hashes in old.items():
            if relative not in new and relative not in still_listed:
                _remove(target, relative, hashes)
        _write_marker(target, {**others, tool: new})


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")
                  if p.is_file() or p.is_symlink())


@contextlib.contextmanager
def output_folder(target: str | Path, tool: str, force: bool = False,
                  forceable: bool = False) -> Iterator[Path]:
    """A fresh scratch folder for the block to fill; when the block succeeds its files
    replace the ones ``tool`` wrote into ``target`` before (nothing else is touched), and
    when it raises ``target`` is left as it was."""
    target = Path(target)
    check_output_folder(target, force, forceable)
    target.parent.mkdir(parents=True, exist_ok=True)
    _clean_stale_scratch(target.parent, target.name)
    scratch = target.parent / f".{target.name}{_SCRATCH}{os.getpid()}-{secrets.token_hex(4)}"
    scratch.mkdir()
    try:
        yield scratch
        _commit(scratch, target, tool, force)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
