"""C simulation of a generated project: g++ with the ap_types headers and our shims.

The testbench runs the top function on the artifact's vector images for every task and
compares every layer's output with the simulator's golden values. ``run_csim`` returns
one result per (task, image, layer): equal, or the first mismatch.
"""

from __future__ import annotations

import ctypes
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cxx_build import compile_cxx

#: Native registers for the exact products and sums (fixed_point.hpp): the same integers as
#: the ap_int path synthesis reads, several times faster.
NATIVE_ARITHMETIC = "-DEDGEMOE_NATIVE_ARITHMETIC"
CSIM_FLAGS = ("-O2", NATIVE_ARITHMETIC)


class CsimError(RuntimeError):
    """The testbench did not run to a verdict (a missing or wrong-sized file, a crash)."""


@dataclass(frozen=True)
class TapResult:
    task: str
    image: int
    name: str
    equal: bool
    index: int | None = None
    expected: int | None = None
    got: int | None = None

    def __str__(self) -> str:
        where = f"{self.task} image {self.image} {self.name}"
        if self.equal:
            return f"{where}: equal"
        return (f"{where}: first mismatch at index {self.index}: expected {self.expected}, "
                f"got {self.got}")


@dataclass(frozen=True)
class CsimReport:
    taps: list[TapResult]
    tokens_equal: bool
    output: str

    @property
    def passed(self) -> bool:
        return self.tokens_equal and bool(self.taps) and all(t.equal for t in self.taps)


def project_sources(project: Path) -> list[Path]:
    return [*sorted((project / "src").glob("*.cpp")), project / "tb" / "testbench.cpp"]


def build_csim(project: Path) -> Path:
    """The testbench executable (cached by content)."""
    return compile_cxx(project_sources(project), name=f"csim_{project.parent.name}",
                       extra_include_dirs=[project / "include"], extra_flags=CSIM_FLAGS)


def parse_output(output: str) -> CsimReport:
    taps = []
    tokens_equal = True
    for line in output.splitlines():
        parts = line.split()
        if parts[:1] == ["tap"] and len(parts) >= 5:
            task, image, name, verdict = parts[1], int(parts[2]), parts[3], parts[4]
            if verdict == "ok":
                taps.append(TapResult(task, image, name, True))
            else:
                index, expected, got = (int(p) for p in parts[5:8])
                taps.append(TapResult(task, image, name, False, index, expected, got))
        elif parts[:1] == ["tokens"]:
            tokens_equal = False
    return CsimReport(taps, tokens_equal, output)


def run_csim(project: Path, artifact: Path, timeout: float = 3600,
             binary: Path | None = None) -> CsimReport:
    """Run the testbench (``binary``, or the project's, built) on ``artifact``'s files."""
    binary = binary or build_csim(project)
    try:
        done = subprocess.run([str(binary), str(artifact)], capture_output=True, text=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CsimError(f"the csim testbench did not finish within {timeout:g} s") from None
    report = parse_output(done.stdout)
    if done.returncode not in (0, 1) or not report.taps:
        reason = done.stderr.strip().splitlines()[0] if done.stderr.strip() else "no output"
        raise CsimError(f"the csim testbench stopped (status {done.returncode}): {reason}")
    return report


def build_shared(project: Path) -> Path:
    """The kernel as a shared library with the C entry point ``edgemoe_run``."""
    sources = [*sorted((project / "src").glob("*.cpp")), project / "sw" / "c_api.cpp"]
    return compile_cxx(sources, kind="shared", name=f"kernel_{project.parent.name}",
                       extra_include_dirs=[project / "include"], extra_flags=CSIM_FLAGS)


class CsimKernel:
    """The generated kernel, compiled for this machine, called on byte buffers."""

    def __init__(self, project: Path) -> None:
        library = ctypes.CDLL(str(build_shared(project)))
        size = ctypes.c_size_t
        for name in ("edgemoe_image_bytes", "edgemoe_token_bytes", "edgemoe_scratch_bytes"):
            getattr(library, name).restype = size
        bytes_in, bytes_out = ctypes.POINTER(ctypes.c_uint8), ctypes.POINTER(ctypes.c_uint8)
        library.edgemoe_run.restype = ctypes.c_int
        library.edgemoe_run.argtypes = [bytes_in, size, bytes_in, size, bytes_out, size,
                                        bytes_out, size, ctypes.c_uint, ctypes.c_uint,
                                        ctypes.c_uint]
        self.library = library
        self.image_bytes = library.edgemoe_image_bytes()
        self.token_bytes = library.edgemoe_token_bytes()
        self.scratch_bytes = library.edgemoe_scratch_bytes()

    def run(self, weights: np.ndarray, images: np.ndarray, tokens: np.ndarray,
            scratch: np.ndarray, task: int, num_images: int, debug: bool = False) -> None:
        """Buffers are uint8 arrays laid out as the board's DDR buffers."""
        def pointer(array: np.ndarray) -> ctypes.POINTER:
            if array.dtype != np.uint8 or not array.flags.c_contiguous:
                raise ValueError("kernel buffers must be contiguous uint8 arrays")
            return array.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8))

        status = self.library.edgemoe_run(
            pointer(weights), weights.size, pointer(images), images.size, pointer(tokens),
            tokens.size, pointer(scratch), scratch.size, task, num_images, int(debug))
        if status != 0:
            raise ValueError(f"the kernel refused its buffers: images need {self.image_bytes} "
                             f"bytes each, tokens {self.token_bytes}, scratch "
                             f"{self.scratch_bytes}; task must be a task index")
