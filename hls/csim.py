"""C simulation of a generated project: g++ with the ap_types headers and our shims.

The testbench runs the top function on the artifact's vector images for every task and
compares every layer's output with the simulator's golden values. ``run_csim`` returns
one result per (task, image, layer): equal, or the first mismatch.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from .cxx_build import compile_cxx

CSIM_FLAGS = ("-O2",)


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


def run_csim(project: Path, artifact: Path, timeout: float = 3600) -> CsimReport:
    binary = build_csim(project)
    done = subprocess.run([str(binary), str(artifact)], capture_output=True, text=True,
                          timeout=timeout, check=False)
    report = parse_output(done.stdout)
    if done.returncode not in (0, 1) or not report.taps:
        raise RuntimeError(f"the csim testbench failed to run (status {done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    return report
