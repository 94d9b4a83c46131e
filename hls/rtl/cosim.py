"""``edgemoe rtl cosim``: Verilog with the Vitis HLS kernel interface, run under Verilator and
checked bit for bit against the simulator.

The harness reads the kernel's argument registers and m_axi bundles from a manifest, checks
the RTL folder has that top module with those ports (and drives every input it has), reads
the control protocol from the register map Vitis writes into ``<top>_control_s_axi.v``,
places the inputs in memory, and lets ``sim/testbenches/cosim_tb.py`` drive the control
port as the board's driver does. The memory lives in the simulator: a wrapper generated for
the export's ports as Verilator elaborates them (``cosim_memory``) serves every m_axi bundle,
so no Python runs between clock edges while the kernel works; cocotbext-axi's ``AxiRam`` on
the export's own ports remains as the reference (``memory="cocotbext"``). What Vitis
exports builds as it comes: Verilator with ``--timing`` (``#0`` in reset logic, the
deadlock detector's ``wait``), the folder on the include path, and the ``$readmem`` tables
next to the run (a missing one is an error, not
an empty ROM). Two workloads share that path: an artifact's accelerator (weights and
images in, tokens out, compared with ``simulate``) and ``vector_kernel`` (features in and
out, compared with the ``sim`` GELU and exp), which is what CI can run without Vitis.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError

from edgemoe.sim.artifact import Artifact, ArtifactError
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.kernel_interface import KernelInterface
from edgemoe.sim.schema import describe
from edgemoe.sim.testbenches.memory_files import PAGE_BYTES

from .axi_ports import (
    CONTROL_INPUTS,
    CONTROL_PORTS,
    HELD_AT_ZERO,
    MASTER_INPUTS,
    MASTER_PORTS,
)
from .cocotb_run import SimulationError, run_testbench
from .cosim_memory import TOP as WRAPPER
from .cosim_memory import MemoryModelError, elaborated_ports, window, write_cosim_top
from .generate import UNITS_FILE
from .vector_kernel import MANIFEST_FILE, RtlManifest

BASE_ADDRESS = 0x8_0000_0000  # above 4 GiB: the high address words matter
ALIGN = 4096
#: A Vitis solution folder holds its Verilog twice: as exported, and after synthesis.
EXPORT_FOLDERS = ("impl/verilog", "syn/verilog")
DATA_SUFFIXES = (".dat", ".mem")
_READMEM = re.compile(r"\$readmem[hb]\s*\(\s*\"([^\"]+)\"")


MEMORY_MODELS = ("verilog", "cocotbext")


class CosimError(RuntimeError):
    """The RTL folder does not hold the kernel the manifest describes, or it misbehaved."""


@dataclass
class RtlFolder:
    """The Verilog of one export: its folder, sources and the tables they read."""

    folder: Path
    texts: dict[Path, str]  # each source, read once
    top_source: Path  # the one that defines the top module
    tables: list[Path]  # relative to the folder: every .dat/.mem and every $readmem file
    note: str = ""  # which of a solution's exports was taken, when it had two

    @property
    def sources(self) -> list[Path]:
        return list(self.texts)


@dataclass
class Run:
    """One kernel start: memory contents, argument values, regions to read back and the
    bytes expected there."""

    name: str
    arguments: dict[str, int]
    inputs: dict[int, bytes]  # address -> bytes
    outputs: dict[str, tuple[int, bytes]]  # name -> (address, expected bytes)
    items: int  # images or words, for the per-item cycle figure
    extent: tuple[int, int] | None = None  # (address, bytes) every buffer lies in


@dataclass
class RunResult:
    name: str
    cycles: int
    items: int
    equal: bool
    first_difference: dict[str, Any] | None = None
    protocol: dict[str, bool] = field(default_factory=dict)
    seconds: float = 0.0  # wall time from writing ap_start to the interrupt

    @property
    def cycles_per_item(self) -> float:
        return self.cycles / max(self.items, 1)


class Workload(Protocol):
    kernel: KernelInterface
    lane_bytes: int  # the outputs' lane, to name a differing value by its index

    def runs(self) -> list[Run]: ...


class Layout:
    """Consecutive 4 KiB-aligned regions from ``BASE_ADDRESS``."""

    def __init__(self) -> None:
        self.next = BASE_ADDRESS

    def take(self, size: int) -> int:
        address = self.next
        self.next += -(-max(size, 1) // ALIGN) * ALIGN
        return address


# ------------------------------------------------------------------------------ workloads
class VectorKernelWorkload:
    """GELU and exp over vectors of several lengths (whole words and not), one run after
    another on the same kernel (so a second start after done is exercised)."""

    def __init__(self, manifest: RtlManifest, counts: tuple[int, ...] = (1, 37, 1000),
                 seed: int = 0) -> None:
        self.kernel = manifest.kernel
        self.info = manifest.vector_kernel
        self.specs = manifest.unit_specs
        self.lane_bytes = self.info.feature_bits // 8
        self.counts, self.seed = counts, seed

    def encode(self, raw: np.ndarray, width: int) -> bytes:
        bits = self.info.feature_bits
        lanes = (raw & ((1 << width) - 1)).astype(np.int64)
        if width < bits:  # sign- or zero-extended lanes, as the kernel writes them
            lanes = np.where(raw < 0, raw & ((1 << bits) - 1), lanes)
        return lanes.astype(f"<u{bits // 8}").tobytes()

    def runs(self) -> list[Run]:
        rng = np.random.default_rng(self.seed)
        runs = []
        layout = Layout()
        for index, count in enumerate(self.counts):
            op = index % 2
            spec = self.specs.vector.unit(op)
            fmt = spec.input_fmt
            raw = rng.integers(fmt.min_raw, fmt.max_raw + 1, count)
            expected = spec(FixedArray(raw, fmt)).raw
            words = -(-count // self.info.lanes)
            size = words * self.info.axi_bits // 8
            src, dst = layout.take(size), layout.take(size)
            # the unused lanes of the last word must stay as they were: the fill pattern
            out = self.encode(expected, spec.output_fmt.width)
            out += bytes([0xA5]) * (size - len(out))
            runs.append(Run(f"{self.info.ops[op]} x {count}",
                            {"src": src, "dst": dst, "count": count, "op": op},
                            {src: self.encode(raw, fmt.width)}, {"dst": (dst, out)}, words))
        return runs


class AcceleratorWorkload:
    """An artifact's vector images through the exported accelerator, every task."""

    def __init__(self, artifact: Artifact, images: int = 1) -> None:
        self.artifact = artifact
        self.manifest = artifact.manifest
        self.kernel = self.manifest.kernel
        self.layout = self.manifest.buffers
        self.images = artifact.vector_images()[:images]
        self.lane_bytes = self.layout.feature_bits // 8

    def runs(self) -> list[Run]:
        from edgemoe.sim.accelerator import simulate

        weights_blob = self.artifact.weight_bytes()
        weights = self.artifact.weights()
        layout, count = self.layout, len(self.images)
        regions = Layout()
        weights_at = regions.take(len(weights_blob))
        images_at = regions.take(count * layout.image_bytes)
        tokens_at = regions.take(count * layout.token_bytes)
        scratch_at = regions.take(layout.scratch_bytes)
        runs = []
        for task_index, task in enumerate(self.manifest.config.tasks):
            expected = b""
            for image in self.images:
                raw = simulate(self.manifest, weights, image, task).tokens.raw.reshape(-1)
                data = raw.astype(f"<i{layout.feature_bits // 8}").tobytes()
                expected += data + bytes([0xA5]) * (layout.token_bytes - len(data))
            runs.append(Run(task, {"weights": weights_at, "weights_mirror": weights_at,
                                   "images": images_at,
                                   "tokens": tokens_at, "scratch": scratch_at,
                                   "task_index": task_index, "num_images": count,
                                   "debug": 0},
                            {weights_at: weights_blob, images_at: self.images.tobytes()},
                            {"tokens": (tokens_at, expected)}, count,
                            (BASE_ADDRESS, regions.next - BASE_ADDRESS)))
        return runs


def load_workload(manifest_dir: Path, images: int = 1) -> Workload:
    """The workload a folder's validated manifest describes: a generated RTL folder's
    vector_kernel (it has ``units.json``), else an artifact's accelerator."""
    path = manifest_dir / MANIFEST_FILE
    if (manifest_dir / UNITS_FILE).is_file():
        try:
            return VectorKernelWorkload(RtlManifest.model_validate_json(path.read_bytes()))
        except ValidationError as err:
            raise CosimError(describe(err, str(path))) from None
    try:
        return AcceleratorWorkload(Artifact(manifest_dir), images)
    except ArtifactError as err:
        raise CosimError(str(err)) from None


# ------------------------------------------------------------------------------ the RTL folder
def _export_folder(rtl_dir: Path) -> tuple[Path, str]:
    """``rtl_dir`` when it holds Verilog, else the export under a solution folder (impl
    before syn, named when both are there)."""
    if not rtl_dir.is_dir():
        raise CosimError(f"{rtl_dir} is not a folder")
    if any(p.suffix in (".v", ".sv") for p in rtl_dir.iterdir()):
        return rtl_dir, ""
    found = [rtl_dir / sub for sub in EXPORT_FOLDERS if (rtl_dir / sub).is_dir()]
    if not found:
        raise CosimError(f"no Verilog (.v, .sv) files in {rtl_dir}, nor in its "
                         f"{' or '.join(EXPORT_FOLDERS)}")
    note = (f"{rtl_dir} holds {found[0].relative_to(rtl_dir)} and "
            f"{found[1].relative_to(rtl_dir)}: running {found[0].relative_to(rtl_dir)}"
            if len(found) > 1 else "")
    return found[0], note


def _tables(folder: Path, texts: dict[Path, str]) -> list[Path]:
    """The files the sources' ``$readmemh``/``$readmemb`` read, all inside the folder."""
    root = folder.resolve()
    tables = {p.resolve() for p in folder.iterdir() if p.suffix in DATA_SUFFIXES}
    for source, text in texts.items():
        for name in _READMEM.findall(_COMMENTS.sub("", text)):
            try:
                table = (folder / name).resolve()
            except (OSError, ValueError):  # a NUL byte, a name too long
                table = None
            if table is None or not table.is_relative_to(root) or not table.is_file():
                raise CosimError(f"{source.name} reads {name!r} with $readmem, which is not a "
                                 f"file inside the export folder {folder}: a ROM would stay "
                                 "empty")
            tables.add(table)
    outside = sorted(t.name for t in tables if not t.is_relative_to(root))
    if outside:
        raise CosimError(f"{folder}: {', '.join(outside)} lead(s) outside the export folder")
    return sorted(t.relative_to(root) for t in tables)


def find_top(rtl_dir: Path, top: str) -> RtlFolder:
    """The export's Verilog; raises when no file defines module ``top``."""
    folder, note = _export_folder(rtl_dir)
    texts = {p: p.read_text(errors="replace")
             for p in sorted(folder.iterdir()) if p.suffix in (".v", ".sv")}
    if not texts:
        raise CosimError(f"no Verilog (.v, .sv) files in {folder}")
    modules = {m: p for p, text in texts.items()
               for m in re.findall(r"^\s*module\s+(\w+)", text, re.M)}
    if top not in modules:
        raise CosimError(f"no module {top!r} in {folder}; the manifest's kernel is {top!r} and "
                         f"the folder defines {sorted(modules) or 'no modules'}")
    return RtlFolder(folder, texts, modules[top], _tables(folder, texts), note)


_COMMENTS = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)
_DIRECTION = re.compile(r"\b(input|output|inout)\b")
_TYPE_WORDS = re.compile(r"\[[^\]]*\]|\b(?:wire|reg|logic|signed|unsigned|var|tri)\b")


def _names(declaration: str) -> list[str]:
    """The port names of one declaration's text after its direction (widths and types
    removed; several names separated by commas)."""
    return [m.group(0) for part in _TYPE_WORDS.sub(" ", declaration).split(",")
            if (m := re.search(r"\w+(?=\s*(?:=[^,]*)?$)", part.strip()))]


def module_ports(text: str, top: str) -> dict[str, str]:
    """Each port of module ``top``: its direction (input, output, inout), from an ANSI
    header or from the declarations of a Vitis-style (non-ANSI) body."""
    text = _COMMENTS.sub("", text)
    match = re.search(rf"^\s*module\s+{top}\b(.*?)\)\s*;", text, re.M | re.S)
    if not match:
        return {}
    header = match.group(1)
    body = text[match.end():text.find("endmodule", match.end())]
    # a function's or task's inputs are not the module's
    body = re.sub(r"\b(function|task)\b.*?\bend\1\b", "", body, flags=re.S)
    ports: dict[str, str] = {}
    direction = None  # an ANSI header's names inherit the last direction
    for item in re.split(r",(?![^\[]*\])", header[header.rfind("(", 0, _first(header)) + 1:]):
        found = list(_DIRECTION.finditer(item))
        if found:
            direction = found[-1].group(1)
            item = item[found[-1].end():]
        if direction is not None:
            ports.update(dict.fromkeys(_names(item), direction))
    for direction, declaration in re.findall(r"\b(input|output|inout)\b([^;]*);", body):
        ports.update(dict.fromkeys(_names(declaration), direction))
    return ports


def _first(header: str) -> int:
    """Where the port list's first direction keyword is (the header's end without one)."""
    found = _DIRECTION.search(header)
    return found.start() if found else len(header)


def check_ports(export: RtlFolder, top: str, bundles: list[str]) -> None:
    """Every port the harness drives must be on ``top``, and every input of ``top`` must be
    one the harness drives; raises naming the ports that are not."""
    ports = {name.lower(): direction for name, direction
             in module_ports(export.texts[export.top_source], top).items()}
    wanted = ["ap_clk", "ap_rst_n", "interrupt"]
    wanted += [f"s_axi_control_{p}" for p in CONTROL_PORTS]
    wanted += [f"m_axi_{b}_{p}" for b in bundles for p in MASTER_PORTS]
    missing = [p for p in wanted if p.lower() not in ports]
    if missing:
        raise CosimError(f"module {top!r} lacks {len(missing)} port(s) the Vitis HLS interface "
                         f"has: {', '.join(missing[:12])}{' ...' if len(missing) > 12 else ''}")
    driven = {"ap_clk", "ap_rst_n", *(f"s_axi_control_{p}".lower() for p in CONTROL_INPUTS),
              *(f"m_axi_{b}_{p}".lower() for b in bundles for p in MASTER_INPUTS)}
    undriven = sorted(name for name, direction in ports.items()
                      if direction != "output" and name not in driven)
    if undriven:
        raise CosimError(f"module {top!r} has input(s) the harness does not drive: "
                         f"{', '.join(undriven)} (an argument without an s_axilite or m_axi "
                         "interface, an AXI-Stream port or a clock enable would stay at 0)")


def interrupt_status_mode(export: RtlFolder, top: str) -> str:
    """How the export's interrupt status register clears, from the register map Vitis
    writes at the head of ``<top>_control_s_axi.v``: ``TOW`` (toggle on write) or ``COR``
    (clear on read). ap_ctrl_chain (an ap_continue bit) is refused."""
    for source, text in export.texts.items():
        if "Address Info" not in text or "Interrupt Status Register" not in text:
            continue
        if re.search(r"^//.*\bap_continue\b", text, re.M):
            raise CosimError(f"{source.name}: the control block is ap_ctrl_chain (it has "
                             "ap_continue); the harness drives ap_ctrl_hs, the protocol the "
                             "board's driver uses (#pragma HLS interface ap_ctrl_hs "
                             "port=return)")
        mode = re.search(r"^//\s*0x0c\s*:\s*IP Interrupt Status Register\s*\(Read/(TOW|COR)\)",
                         text, re.M | re.I)
        if mode:
            return mode.group(1).upper()
        raise CosimError(f"{source.name}: its register map does not say how the interrupt "
                         "status register clears (Read/TOW or Read/COR at 0x0c)")
    raise CosimError(f"no register map (the 'Address Info' comment Vitis writes in "
                     f"{top}_control_s_axi.v) in the RTL folder: the control protocol is "
                     "unknown")


# ------------------------------------------------------------------------------ running
def _compare(got: bytes, expected: bytes, lane_bytes: int) -> dict[str, Any] | None:
    if got == expected:
        return None
    a = np.frombuffer(got, np.uint8)
    b = np.frombuffer(expected, np.uint8)
    index = int(np.flatnonzero(a != b)[0]) // lane_bytes
    lane = slice(index * lane_bytes, (index + 1) * lane_bytes)
    return {"lane": index, "expected": bytes(b[lane]).hex(), "got": bytes(a[lane]).hex()}


def _build_args(simulator: str) -> list[str]:
    """Verilator with timing: the ``#0`` in Vitis's reset logic, the deadlock detector's
    ``wait`` (and the coroutines it compiles to)."""
    return ["--timing", "-CFLAGS", "-fcoroutines"] if simulator == "verilator" else []


def _missing_tables(log: Path) -> list[str]:
    """$readmem misses the simulator only warned about."""
    if not log.is_file():
        return []
    return [line.strip() for line in log.read_text(errors="replace").splitlines()
            if "readmem" in line.lower() and "not found" in line.lower()]


def _regions(runs: list[Run]) -> list[tuple[int, int]]:
    """Every (address, bytes) the runs' buffers occupy."""
    regions = [(address, len(data)) for run in runs for address, data in run.inputs.items()]
    regions += [(address, len(data)) for run in runs for address, data in run.outputs.values()]
    return regions + [run.extent for run in runs if run.extent is not None]


def _stray_pages(run: Run, touched: list[int] | None) -> list[int]:
    """The pages the kernel went to that hold none of ``run``'s buffers."""
    if not touched:
        return []
    allowed = set()
    for address, size in _regions([run]):
        allowed.update(range(address // PAGE_BYTES, -(-(address + size) // PAGE_BYTES)))
    return [page for page in touched if page // PAGE_BYTES not in allowed]


def cosim(manifest_dir: str | Path, rtl_dir: str | Path, *, images: int = 1,
          cycle_limit: int = 2_000_000, simulator: str = "verilator",
          workload: Workload | None = None, memory: str | None = None,
          poll_each_cycle: bool = False,
          log: Callable[[str], None] = lambda message: None) -> list[RunResult]:
    """Run every run of the workload on the RTL; returns each run's cycles and verdict.

    ``memory`` is ``verilog`` (the wrapper's memory inside the simulator; the default on
    Verilator) or ``cocotbext`` (``AxiRam`` in Python; the default on Icarus, which
    re-evaluates a read of the whole memory array on every write and runs the Verilog memory
    about 30 times slower than Verilator does). ``poll_each_cycle`` looks at ``interrupt``
    from Python at every clock edge instead of waiting for it; with ``cocotbext`` it is the
    slow reference of ``benchmarks/cosim_speed.py``. ``log`` hears which export of a
    solution folder runs."""
    memory = memory or ("verilog" if simulator == "verilator" else "cocotbext")
    if memory not in MEMORY_MODELS:
        raise ValueError(f"unknown memory model {memory!r}; choose from {MEMORY_MODELS}")
    manifest_dir, rtl_dir = Path(manifest_dir), Path(rtl_dir)
    workload = workload or load_workload(manifest_dir, images)
    kernel = workload.kernel
    top, bundles = kernel.name, kernel.bundles
    export = find_top(rtl_dir, top)
    if export.note:
        log(export.note)
    check_ports(export, top, bundles)
    status_mode = interrupt_status_mode(export, top)
    runs = workload.runs()
    with tempfile.TemporaryDirectory(prefix="edgemoe-cosim-") as tmp:
        work = Path(tmp)
        run_dir = work / "run"
        run_dir.mkdir()
        for table in export.tables:  # Vitis's $readmem paths are relative to the run
            (run_dir / table).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(export.folder / table, run_dir / table)
        plan_runs = []
        for r, run in enumerate(runs):
            inputs = []
            for i, (address, data) in enumerate(run.inputs.items()):
                (work / f"in{r}_{i}.bin").write_bytes(data)
                inputs.append({"address": address, "file": str(work / f"in{r}_{i}.bin")})
            outputs = [{"name": name, "address": address, "bytes": len(expected),
                        "file": str(work / f"out{r}_{name}.bin")}
                       for name, (address, expected) in run.outputs.items()]
            plan_runs.append({"name": run.name, "arguments": run.arguments, "inputs": inputs,
                              "outputs": outputs})
        arguments = [{"name": a.name, "offset": a.offset, "words": a.words}
                     for a in kernel.arguments]
        sources, toplevel, layout = export.sources, top, {"model": memory}
        if memory == "verilog":
            try:
                base, words = window(_regions(runs))
                ports = elaborated_ports(export.sources, top, [export.folder])
                wrapper = write_cosim_top(work / f"{WRAPPER}.v", top, ports, bundles, base,
                                          words)
            except MemoryModelError as err:
                raise CosimError(f"{top}: {err}") from None
            sources, toplevel = [*sources, wrapper], WRAPPER
            layout.update(base=base, words=words)
        plan = {"arguments": arguments, "bundles": bundles, "cycle_limit": cycle_limit,
                "interrupt_status": status_mode, "poll_each_cycle": poll_each_cycle,
                "held_at_zero": HELD_AT_ZERO, "memory": layout,
                "runs": plan_runs}
        (work / "plan.json").write_text(json.dumps(plan))
        try:
            found = run_testbench(sources, toplevel, "edgemoe.sim.testbenches.cosim_tb",
                                  "cosim", env={"EDGEMOE_COSIM_PLAN": str(work / "plan.json")},
                                  simulator=simulator, work_dir=run_dir,
                                  build_args=_build_args(simulator),
                                  include_dirs=[export.folder])  # the detector's .vh
        except SimulationError as err:
            raise CosimError(str(err)) from None
        missing = _missing_tables(Path(found["log"]))
        if missing:
            raise CosimError(f"{top}: a table did not load: {missing[0]}")
        if "error" in found:
            raise CosimError(f"{top}: {found['error']}")
        results = []
        for run, seen in zip(runs, found["runs"], strict=True):
            stray = _stray_pages(run, seen.get("touched"))
            if stray:
                raise CosimError(f"{top}: run {run.name!r} accessed the {PAGE_BYTES}-byte page "
                                 f"at {stray[0]:#x}, which holds none of its buffers"
                                 + (f" ({len(stray) - 1} more such pages)" if len(stray) > 1
                                    else ""))
            differences = [d for d in (_compare(Path(seen["outputs"][name]).read_bytes(),
                                                expected, workload.lane_bytes)
                                       for name, (_, expected) in run.outputs.items()) if d]
            protocol = {k: seen[k] for k in ("idle_before", "done", "idle_after",
                                             "done_cleared_on_read")}
            results.append(RunResult(run.name, seen["cycles"], run.items, not differences,
                                     differences[0] if differences else None, protocol,
                                     seen["seconds"]))
    return results
