"""The report's content as data (sections of tables and figures) and its HTML page."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

TEMPLATES = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Table:
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""


@dataclass(frozen=True)
class Figure:
    file: str  # a PNG beside index.html
    caption: str


@dataclass
class Section:
    """One heading of the page. ``not_run`` holds the command that would produce it."""

    id: str
    title: str
    summary: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    not_run: str | None = None
    data: Any = None  # the section's numbers, for report.json


def save_figure(figure: Any, folder: Path, name: str, caption: str) -> Figure:
    """Save a matplotlib figure as ``folder/NAME.png`` and close it."""
    import matplotlib.pyplot as plt

    figure.savefig(folder / f"{name}.png", format="png", dpi=100)
    plt.close(figure)
    return Figure(f"{name}.png", caption)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def render_html(title: str, facts: list[tuple[str, str]], sections: list[Section],
                folder: Path) -> str:
    """The page, every figure embedded as a data URI (read from ``folder``)."""
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES),
                                     autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    images = {figure.file: _data_uri(folder / figure.file)
              for section in sections for figure in section.figures}
    return environment.get_template("report.html.j2").render(
        title=title, facts=facts, sections=sections, images=images)
