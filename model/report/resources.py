"""The RTL units' resources from yosys, as ``edgemoe rtl estimate`` saves them."""

from __future__ import annotations

import json
from pathlib import Path

from .page import Section, Table

RESOURCES_JSON = "resources.json"


def resources_section(candidates: list[Path], command: str) -> Section:
    """The table from the first ``resources.json`` in ``candidates``."""
    section = Section("resources", "RTL resources (yosys synth_xilinx, UltraScale+)")
    found = next((path for path in candidates if path.is_file()), None)
    if found is None:
        section.not_run = command
        return section
    rows = json.loads(found.read_text())
    section.tables.append(Table(
        ["module", "LUT", "FF", "DSP", "BRAM36", "LUTRAM", "note"],
        [[r["module"], str(r["lut"]), str(r["ff"]), str(r["dsp"]), f"{r['bram36']:.1f}",
          str(r["lutram"]), r.get("note", "")] for r in rows],
        f"from {found}; yosys's mapping is an estimate, not Vivado's"))
    section.summary = ("Each datapath unit synthesized alone; beside GELU and exp, the naive "
                       "full-table circuits they replace.")
    section.data = rows
    return section
