"""``edgemoe hls lint``: the generated HLS checked for what Vitis would refuse or build
badly, on libclang's parse of the sources (see ``rules``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from .rules import RULES, Finding
from .source import LintError, read_program

__all__ = ["RULES", "Finding", "LintError", "lint_project", "lint_sources"]


def lint_sources(sources: Sequence[Path], root: Path,
                 include: Sequence[Path] = ()) -> list[Finding]:
    """Every finding of every rule in ``sources`` and the headers under ``root``."""
    program = read_program(sources, [root], include)
    return sorted({finding for rule in RULES.values() for finding in rule(program)})


def lint_project(project: Path) -> list[Finding]:
    """A generated project's synthesizable sources (``src/*.cpp`` with ``include/``)."""
    project = Path(project)
    sources = sorted((project / "src").glob("*.cpp"))
    if not sources:
        raise LintError(f"{project} has no src/*.cpp: not an HLS project")
    return lint_sources(sources, project, [project / "include"])
