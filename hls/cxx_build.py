"""Compile C++ for C simulation with g++, cached by content.

A build is keyed by the hash of everything that decides its output: the source, the
flags, the compiler's version and the headers on the include path. A second request
for the same build returns the cached file at once; a failed build leaves nothing
behind and raises ``CompileError`` naming the first error's file and line.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Literal

from edgemoe.sim.cache import build_lock, cache_dir, content_digest

from .headers import include_dirs

CXX_STANDARD = "-std=c++14"  # what UG1399 documents for Vitis HLS
OPTIMIZE = "-O2"
# Warnings that catch real mistakes in our code. The Xilinx headers come in through
# -isystem so their own warnings stay quiet; HLS pragmas are unknown to g++ by design.
WARNINGS = ("-Wall", "-Wextra", "-Wno-unknown-pragmas", "-Wno-maybe-uninitialized",
            "-Werror=return-type")
_DIAGNOSTIC = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?:(?P<column>\d+):)? "
                         r"(?:fatal )?error: (?P<message>.*)$", re.MULTILINE)


class CompileError(RuntimeError):
    """g++ rejected a source; ``file``/``line`` point at the first error."""

    def __init__(self, stderr: str, command: Sequence[str]) -> None:
        self.stderr = stderr
        self.command = list(command)
        first = _DIAGNOSTIC.search(stderr)
        if first:
            self.file, self.line = first["file"], int(first["line"])
            where = f"{self.file}:{self.line}: {first['message']}"
        else:
            self.file, self.line = None, None
            where = stderr.strip().splitlines()[-1] if stderr.strip() else "no output"
        tail = "\n".join(stderr.strip().splitlines()[-30:])
        super().__init__(f"g++ failed at {where}\n--- compiler output (last lines) ---\n{tail}")


class CompilerNotFoundError(RuntimeError):
    """No g++ on PATH."""


@dataclass(frozen=True)
class CompilerInfo:
    path: str
    version: str


@lru_cache(maxsize=1)
def find_compiler() -> CompilerInfo:
    path = shutil.which(os.environ.get("CXX", "g++"))
    if path is None:
        raise CompilerNotFoundError("no g++ on PATH; install it (Debian: apt install g++) "
                                    "or point $CXX at a C++17 compiler")
    first = subprocess.run([path, "--version"], capture_output=True, text=True,
                           check=True).stdout.splitlines()[0]
    return CompilerInfo(path, first)


def compile_cxx(source: str | Path | Sequence[Path], *,
                kind: Literal["executable", "shared"] = "executable", name: str = "build",
                extra_include_dirs: Sequence[Path] = (), extra_flags: Sequence[str] = ()) -> Path:
    """Build ``source`` (C++ text, a .cpp file, or several) and return the binary's path.

    ``kind="shared"`` builds a ``.so`` for ctypes. Sources given as paths are compiled in
    place, their folders on the include path and hashed with them.
    """
    compiler = find_compiler()
    user_dirs = [Path(d) for d in extra_include_dirs]
    files = [source] if isinstance(source, Path) else (
        list(source) if not isinstance(source, str) else [])
    if files:
        text = "\0".join(f.read_text() for f in files)
        user_dirs[:0] = sorted({f.parent for f in files})
    else:
        text = source
    system_dirs = include_dirs()
    flags = [CXX_STANDARD, OPTIMIZE, *WARNINGS, *extra_flags]
    if kind == "shared":
        flags += ["-shared", "-fPIC"]

    digest = hashlib.sha256()
    for part in (compiler.version, kind, *flags, text):
        digest.update(part.encode())
        digest.update(b"\0")
    for folder in (*user_dirs, *system_dirs):
        digest.update((content_digest(folder) or "").encode())
    suffix = ".so" if kind == "shared" else ""
    target = cache_dir() / "cxx" / f"{name}-{digest.hexdigest()[:24]}{suffix}"
    if target.exists():
        return target

    target.parent.mkdir(parents=True, exist_ok=True)
    options = [compiler.path, *flags, *(f"-I{d}" for d in user_dirs),
               *(arg for d in system_dirs for arg in ("-isystem", str(d)))]
    with build_lock(f"cxx-{target.name}"):
        if not target.exists():
            _compile(options, files, text, target)
    return target


def _compile(options: list[str], files: list[Path], text: str, target: Path) -> None:
    """Compile into a scratch file beside ``target`` and move it into place."""
    with tempfile.TemporaryDirectory(dir=target.parent) as scratch:
        if not files:
            files = [Path(scratch) / "source.cpp"]
            files[0].write_text(text)
        out = Path(scratch) / target.name
        command = [*options, *(str(f) for f in files), "-o", str(out)]
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise CompileError(done.stderr.replace(f"{scratch}/", ""), command)
        os.replace(out, target)  # atomic: a reader sees the whole binary or none
