"""Write files whole or not at all."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_path(target: str | Path) -> Iterator[Path]:
    """A fresh path beside ``target`` for the block to write; renamed over ``target`` when
    the block succeeds, deleted when it raises. A reader sees the old file or the new one,
    never a part of one. (The file is created by the writer, so it gets the usual umask.)"""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{secrets.token_hex(6)}.part")
    try:
        yield temporary
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_directory(target: str | Path) -> Iterator[Path]:
    """A fresh folder beside ``target`` for the block to fill; it replaces ``target`` (an
    old folder there is removed once the new one is in place) when the block succeeds and
    is deleted when it raises."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        yield scratch
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(scratch, 0o777 & ~umask)  # mkdtemp makes it private; the result is not
        if not target.exists():
            os.replace(scratch, target)
            return
        old = target.with_name(f".{target.name}.old")  # removed only once the new one is in
        shutil.rmtree(old, ignore_errors=True)
        os.replace(target, old)
        os.replace(scratch, target)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
