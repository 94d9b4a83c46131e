"""``edgemoe rtl cosim``: Verilog with the Vitis HLS kernel interface, run under Verilator and
checked bit for bit against the simulator.

The harness reads the kernel's argument registers and m_axi bundles from a manifest, checks
the RTL folder has that top module with those ports, places the inputs in memory, and lets
``sim/testbenches/cosim_tb.py`` drive the control port as the board's driver does. Two
workloads share that path: an artifact's accelerator (weights and images in, tokens out,
compared with ``simulate``) and ``vector_kernel`` (features in and out, compared with the
``sim`` GELU and exp), which is what CI can run without Vitis.
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError

from edgemoe.sim.artifact import Artifact, ArtifactError
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.kernel_interface import KernelInterface
from edgemoe.sim.schema import describe

from .cocotb_run import SimulationError, run_testbench
from .generate import UNITS_FILE
from .vector_kernel import MANIFEST_FILE, RtlManifest

BASE_ADDRESS = 0x8_0000_0000  # above 4 GiB: the high address words matter
ALIGN = 4096
CONTROL_PORTS = ("AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY",
                 "BRESP", "BVALID", "BREADY", "ARADDR", "ARVALID", "ARREADY", "RDATA",
                 "RRESP", "RVALID", "RREADY")
MASTER_PORTS = ("AWID", "AWADDR", "AWLEN", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WLAST",
                "WVALID", "WREADY", "BID", "BVALID", "BREADY", "ARID", "ARADDR", "ARLEN",
                "ARVALID", "ARREADY", "RID", "RDATA", "RLAST", "RVALID", "RREADY")


class CosimError(RuntimeError):
    """The RTL folder does not hold the kernel the manifest describes, or it misbehaved."""


@dataclass
class Run:
    """One kernel start: memory contents, argument values, regions to read back and the
    bytes expected there."""

    name: str
    arguments: dict[str, int]
    inputs: dict[int, bytes]  # address -> bytes
    outputs: dict[str, tuple[int, bytes]]  # name -> (address, expected bytes)
    items: int  # images or words, for the per-item cycle figure


@dataclass
class RunResult:
    name: str
    cycles: int
    items: int
    equal: bool
    first_difference: dict[str, Any] | None = None
    protocol: dict[str, bool] = field(default_factory=dict)

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
                            {"tokens": (tokens_at, expected)}, count))
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
def find_top(rtl_dir: Path, top: str) -> list[Path]:
    """The Verilog files of ``rtl_dir``; raises when none defines module ``top``."""
    sources = sorted(p for p in rtl_dir.rglob("*") if p.suffix in (".v", ".sv"))
    if not sources:
        raise CosimError(f"no Verilog (.v, .sv) files in {rtl_dir}")
    modules = {m: p for p in sources
               for m in re.findall(r"^\s*module\s+(\w+)", p.read_text(errors="replace"), re.M)}
    if top not in modules:
        raise CosimError(f"no module {top!r} in {rtl_dir}; the manifest's kernel is {top!r} and "
                         f"the folder defines {sorted(modules) or 'no modules'}")
    return sources


def module_ports(text: str, top: str) -> set[str]:
    match = re.search(rf"^\s*module\s+{top}\b(.*?);", text, re.M | re.S)
    header = match.group(1) if match else ""
    body_start = match.end() if match else 0
    body = text[body_start:text.find("endmodule", body_start)]
    declared = re.findall(r"\b(?:input|output|inout)\b[^;,)]*?(\w+)\s*(?=[,;)]|$)",
                          header + "\n" + body, re.M)
    return set(declared)


def check_ports(sources: list[Path], top: str, bundles: list[str]) -> None:
    """Every port the harness drives must be on ``top``; raises naming the missing ones."""
    text = next(p.read_text(errors="replace") for p in sources
                if re.search(rf"^\s*module\s+{top}\b", p.read_text(errors="replace"), re.M))
    ports = {p.lower() for p in module_ports(text, top)}
    wanted = ["ap_clk", "ap_rst_n", "interrupt"]
    wanted += [f"s_axi_control_{p}" for p in CONTROL_PORTS]
    wanted += [f"m_axi_{b}_{p}" for b in bundles for p in MASTER_PORTS]
    missing = [p for p in wanted if p.lower() not in ports]
    if missing:
        raise CosimError(f"module {top!r} lacks {len(missing)} port(s) the Vitis HLS interface "
                         f"has: {', '.join(missing[:12])}{' ...' if len(missing) > 12 else ''}")


# ------------------------------------------------------------------------------ running
def _compare(got: bytes, expected: bytes, lane_bytes: int) -> dict[str, Any] | None:
    if got == expected:
        return None
    a = np.frombuffer(got, np.uint8)
    b = np.frombuffer(expected, np.uint8)
    index = int(np.flatnonzero(a != b)[0]) // lane_bytes
    lane = slice(index * lane_bytes, (index + 1) * lane_bytes)
    return {"lane": index, "expected": bytes(b[lane]).hex(), "got": bytes(a[lane]).hex()}


def cosim(manifest_dir: str | Path, rtl_dir: str | Path, *, images: int = 1,
          cycle_limit: int = 2_000_000, simulator: str = "verilator",
          workload: Workload | None = None) -> list[RunResult]:
    """Run every run of the workload on the RTL; returns each run's cycles and verdict."""
    manifest_dir, rtl_dir = Path(manifest_dir), Path(rtl_dir)
    workload = workload or load_workload(manifest_dir, images)
    kernel = workload.kernel
    top, bundles = kernel.name, kernel.bundles
    sources = find_top(rtl_dir, top)
    check_ports(sources, top, bundles)
    runs = workload.runs()
    with tempfile.TemporaryDirectory(prefix="edgemoe-cosim-") as tmp:
        work = Path(tmp)
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
        plan = {"arguments": arguments, "bundles": bundles,
                "cycle_limit": cycle_limit, "runs": plan_runs}
        (work / "plan.json").write_text(json.dumps(plan))
        try:
            found = run_testbench(sources, top, "edgemoe.sim.testbenches.cosim_tb", "cosim",
                                  env={"EDGEMOE_COSIM_PLAN": str(work / "plan.json")},
                                  simulator=simulator, work_dir=work / "run")
        except SimulationError as err:
            raise CosimError(str(err)) from None
        if "error" in found:
            raise CosimError(f"{top}: {found['error']} (the cycle limit stopped the run)")
        results = []
        for run, seen in zip(runs, found["runs"], strict=True):
            differences = [d for d in (_compare(Path(seen["outputs"][name]).read_bytes(),
                                                expected, workload.lane_bytes)
                                       for name, (_, expected) in run.outputs.items()) if d]
            protocol = {k: seen[k] for k in ("idle_before", "done", "idle_after",
                                             "done_cleared_on_read")}
            results.append(RunResult(run.name, seen["cycles"], run.items, not differences,
                                     differences[0] if differences else None, protocol))
    return results
