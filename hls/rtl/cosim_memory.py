"""The cosimulation's memory inside the simulator: ``edgemoe_cosim_top`` wraps the export's
top module and serves each m_axi bundle from one Verilog memory, so no Python runs between
clock edges while the kernel works (cocotbext-axi's ``AxiRam`` wakes Python every beat).

The wrapper is generated for the ports as Verilator elaborates the export (widths from its
``--json-only`` tree, parameters resolved), names built from the manifest's validated
bundle names. cocotb fills and reads the memory through files with fixed names in the run
folder (``$readmemh``/``$writememh``): 64-bit words, word i of the window at
``base + 8 i``.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from edgemoe.sim.testbenches.memory_files import (
    DUMP_FILE,
    LOAD_FILE,
    PAGE_BYTES,
    TOUCHED_FILE,
    WORD_BYTES,
)

from .axi_ports import CONTROL_PORTS, HELD_AT_ZERO, SERVED_PORTS
from .generate import environment

TOP = "edgemoe_cosim_top"
MIN_WINDOW_BYTES = 1 << 20
#: A window beyond this many bytes is refused (the memory is a Verilog array).
MAX_WINDOW_BYTES = 1 << 30
ELABORATION_SECONDS = 600
DIRECTIONS = ("input", "output", "inout")
#: The m_axi signals whose size and burst the memory checks, where the kernel has them.
CHECKED = ("AWSIZE", "AWBURST", "ARSIZE", "ARBURST")


class MemoryModelError(RuntimeError):
    """The export's ports cannot be served by the Verilog memory."""


@dataclass(frozen=True)
class Port:
    name: str
    direction: str  # one of DIRECTIONS
    width: int


def _ranges(node: object, found: dict[str, int]) -> None:
    """Every data type's width in Verilator's JSON tree, by its address."""
    if isinstance(node, dict):
        if "addr" in node and node.get("type", "").endswith("DTYPE"):
            bounds = node.get("range")
            if bounds:
                high, low = (int(b) for b in bounds.split(":"))
                found[node["addr"]] = abs(high - low) + 1
            else:
                found.setdefault(node["addr"], 1)
        for value in node.values():
            _ranges(value, found)
    elif isinstance(node, list):
        for value in node:
            _ranges(value, found)


def elaborated_ports(sources: list[Path], top: str, include_dirs: list[Path]) -> dict[str, Port]:
    """``top``'s ports as Verilator elaborates them: name -> direction and width."""
    from .verilator_tool import VerilatorNotFoundError, verilator_env

    with tempfile.TemporaryDirectory(prefix="edgemoe-ports-") as scratch:
        command = ["verilator", "--json-only", "--timing", "-Wno-fatal", "--top-module", top,
                   "--Mdir", scratch, *(f"-I{d}" for d in include_dirs), *map(str, sources)]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  env=verilator_env(), timeout=ELABORATION_SECONDS)
        except VerilatorNotFoundError as err:
            raise MemoryModelError(str(err)) from None
        except subprocess.TimeoutExpired:
            raise MemoryModelError(f"Verilator took over {ELABORATION_SECONDS} s to elaborate "
                                   f"{top}") from None
        if done.returncode != 0:
            errors = [line for line in done.stderr.splitlines() if line.startswith("%Error")]
            raise MemoryModelError(f"Verilator could not elaborate {top}: "
                                   f"{(errors or ['no error message'])[0]}")
        tree = json.loads((Path(scratch) / f"V{top}.tree.json").read_text())
    widths: dict[str, int] = {}
    _ranges(tree, widths)
    modules = [m for m in tree["modulesp"] if m.get("origName", m.get("name")) == top]
    if not modules:
        raise MemoryModelError(f"Verilator's tree of {top} has no module {top}")
    ports = {v["name"]: Port(v["name"], str(v.get("direction", "")).lower(),
                             widths.get(v["dtypep"], 1))
             for v in modules[0].get("stmtsp", [])
             if v.get("type") == "VAR" and v.get("isPrimaryIO")}
    odd = [p.name for p in ports.values() if p.direction not in DIRECTIONS]
    if odd:  # the direction is written into the wrapper: only the words Verilog has
        raise MemoryModelError(f"{top}'s port {odd[0][:60]!r} has no input or output "
                               "direction")
    return ports


def _bundle(name: str, ports: dict[str, Port], window_end: int) -> dict:
    def port(signal: str) -> Port:
        found = ports.get(f"m_axi_{name}_{signal}")
        if found is None:
            raise MemoryModelError(f"the kernel has no m_axi_{name}_{signal}")
        return found

    served = [port(signal) for signal in SERVED_PORTS]
    checked = [ports[f"m_axi_{name}_{s}"] for s in CHECKED if f"m_axi_{name}_{s}" in ports]
    data_bits = port("WDATA").width
    if data_bits % 8 or data_bits != port("RDATA").width or data_bits & (data_bits - 1):
        raise MemoryModelError(f"m_axi_{name} has {data_bits}-bit write and "
                               f"{port('RDATA').width}-bit read data; the memory serves one "
                               "power-of-two width of whole bytes")
    if port("AWLEN").width != 8 or port("ARLEN").width != 8:
        raise MemoryModelError(f"m_axi_{name}'s burst lengths are not AXI4's 8 bits")
    if port("AWADDR").width > 64 or port("ARADDR").width != port("AWADDR").width:
        raise MemoryModelError(f"m_axi_{name}'s addresses are not one width of at most 64 bits")
    if window_end > 1 << port("AWADDR").width:
        raise MemoryModelError(f"m_axi_{name}'s {port('AWADDR').width}-bit addresses cannot "
                               f"reach the run's buffers (up to {window_end:#x})")
    expected = {"ARID": port("AWID").width, "RID": port("AWID").width,
                "BID": port("AWID").width, "WSTRB": data_bits // 8, "RRESP": 2, "BRESP": 2}
    mismatched = [signal for signal, width in expected.items() if port(signal).width != width]
    if mismatched:
        raise MemoryModelError(f"m_axi_{name}'s {', '.join(mismatched)} do not have the widths "
                               "its AWID and data give them")
    zero = [s for s in HELD_AT_ZERO if f"m_axi_{name}_{s}" in ports]
    return {"name": name, "bytes": data_bits // 8, "size": (data_bits // 8).bit_length() - 1,
            "addr_bits": port("AWADDR").width, "id_bits": port("AWID").width,
            "checks_size": len(checked) == len(CHECKED),
            "held_at_zero": zero,
            "ports": [{"name": p.name.removeprefix(f"m_axi_{name}_"), "width": p.width}
                      for p in [*served, *checked, *(ports[f"m_axi_{name}_{s}"] for s in zero)]]}


def write_cosim_top(path: Path, top: str, ports: dict[str, Port], bundles: list[str],
                    base: int, words: int) -> Path:
    """The wrapper of ``top`` with a memory of ``words`` 64-bit words from ``base``."""
    if words * WORD_BYTES > MAX_WINDOW_BYTES:
        raise MemoryModelError(f"the run's buffers span {words * WORD_BYTES} bytes, more than "
                               f"the {MAX_WINDOW_BYTES} the simulator's memory holds")
    control_ports = []
    for name in (f"s_axi_control_{p}" for p in CONTROL_PORTS):
        if name not in ports:
            raise MemoryModelError(f"the kernel has no {name}")
        control_ports.append({"name": name, "direction": ports[name].direction,
                              "width": ports[name].width})
    served = [_bundle(b, ports, base + words * WORD_BYTES) for b in bundles]
    connections = ["ap_clk", "ap_rst_n", "interrupt", *(p["name"] for p in control_ports),
                   *(f"m_axi_{b['name']}_{p['name']}" for b in served for p in b["ports"])]
    context = {"top": top, "control": control_ports, "base": base, "words": words,
               "bundles": served, "connections": connections, "load_file": LOAD_FILE,
               "dump_file": DUMP_FILE, "touched_file": TOUCHED_FILE,
               "pages": words * WORD_BYTES // PAGE_BYTES}
    path.write_text(environment().get_template("cosim_memory.v.j2").render(**context))
    return path


def window(regions: list[tuple[int, int]]) -> tuple[int, int]:
    """(base, words) of a window holding every (address, bytes): from the lowest address's
    4 KiB page, a power of two of at least ``MIN_WINDOW_BYTES``, so runs of one kernel share
    a build."""
    if not regions:
        raise MemoryModelError("the workload's runs have no buffers to place in memory")
    start = min(address for address, _ in regions) // PAGE_BYTES * PAGE_BYTES
    end = max(address + size for address, size in regions)
    size = max(MIN_WINDOW_BYTES, 1 << (end - start - 1).bit_length())
    return start, size // WORD_BYTES
