"""The cosimulation harness on vector_kernel: bit-exact runs (unaligned lengths, a second
start after done), measured burst throughput, clear errors for a wrong RTL folder, and a
kernel that strays outside its buffers caught by the memory in the simulator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from edgemoe.hls.perf.cycle_model import vector_kernel_cycles
from edgemoe.hls.rtl.cosim import CosimError, Run, VectorKernelWorkload, cosim
from edgemoe.hls.rtl.cosim_memory import window
from edgemoe.hls.rtl.vector_kernel import RtlManifest
from edgemoe.sim.testbenches.memory_files import dumped_bytes, load_file, touched_pages


def test_vector_kernel_runs_bit_exact_and_reports_cycles(rtl_dir: Path) -> None:
    results = cosim(rtl_dir, rtl_dir, cycle_limit=100_000)
    assert [r.name for r in results] == ["gelu x 1", "exp x 37", "gelu x 1000"]
    latencies = json.loads((rtl_dir / "units.json").read_text())["units"]
    for result, unit in zip(results, ("gelu_unit", "exp_unit", "gelu_unit"), strict=True):
        assert result.equal, result.first_difference
        assert all(result.protocol.values()), result.protocol  # idle, done, done clears
        modelled = vector_kernel_cycles(result.items, latencies[unit]["latency"])
        assert abs(modelled - result.cycles) <= 0.1 * result.cycles, (modelled, result.cycles)


def test_vector_kernel_moves_at_least_0_9_words_per_cycle(rtl_dir: Path) -> None:
    manifest = RtlManifest.model_validate_json((rtl_dir / "manifest.json").read_bytes())
    words = 4096
    count = words * manifest.vector_kernel.lanes
    workload = VectorKernelWorkload(manifest, counts=(count,))
    (result,) = cosim(rtl_dir, rtl_dir, workload=workload, cycle_limit=100_000)
    assert result.equal
    throughput = words / result.cycles  # start to done, reads and writes both
    assert throughput >= 0.9, f"{words} words in {result.cycles} cycles: {throughput:.3f}"
    latency = json.loads((rtl_dir / "units.json").read_text())["units"]["gelu_unit"]["latency"]
    modelled = vector_kernel_cycles(words, latency)
    assert abs(modelled - result.cycles) <= 0.1 * result.cycles, (modelled, result.cycles)


def test_a_folder_without_the_top_module_is_refused(rtl_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "other"
    empty.mkdir()
    shutil.copy(rtl_dir / "gelu_unit.v", empty)
    with pytest.raises(CosimError, match=r"no module 'vector_kernel'.*gelu_unit"):
        cosim(rtl_dir, empty)


def test_missing_ports_are_named(rtl_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(rtl_dir, broken)
    source = broken / "vector_kernel.v"
    source.write_text(source.read_text().replace("m_axi_gmem_WLAST", "m_axi_gmem_W_LAST"))
    with pytest.raises(CosimError, match=r"lacks 1 port.*m_axi_gmem_WLAST"):
        cosim(rtl_dir, broken)


def test_a_kernel_that_never_finishes_stops_at_the_cycle_limit(rtl_dir: Path,
                                                                tmp_path: Path) -> None:
    hung = tmp_path / "hung"
    shutil.copytree(rtl_dir, hung)
    source = hung / "vector_kernel.v"
    text = source.read_text()
    assert "assign finish = running" in text
    source.write_text(text.replace("assign finish = running", "assign finish = 1'b0 && running"))
    with pytest.raises(CosimError, match="no ap_done within 3000 cycles"):
        cosim(rtl_dir, hung, cycle_limit=3000)


def test_waiting_for_the_interrupt_counts_the_cycles_polling_counts(rtl_dir: Path) -> None:
    """The edge the harness waits for and the edge a per-cycle poll sees give one count."""
    manifest = RtlManifest.model_validate_json((rtl_dir / "manifest.json").read_bytes())
    counts = {poll: [r.cycles for r in cosim(rtl_dir, rtl_dir, cycle_limit=100_000,
                                             workload=VectorKernelWorkload(manifest),
                                             poll_each_cycle=poll)]
              for poll in (False, True)}
    assert counts[False] == counts[True]


class StrayWrites(VectorKernelWorkload):
    """Results written ``shift`` bytes past the buffer the run declares for them."""

    def __init__(self, manifest: RtlManifest, shift: int) -> None:
        super().__init__(manifest, counts=(37,))
        self.shift = shift

    def runs(self) -> list[Run]:
        runs = super().runs()
        for run in runs:
            run.arguments["dst"] += self.shift
        return runs


@pytest.mark.parametrize(("shift", "message"), [
    (1 << 24, "accessed {dst:#x}, outside the memory that holds the run's buffers"),
    (1 << 16, "accessed the 4096-byte page at {dst:#x}, which holds none of its buffers")],
    ids=["outside the memory", "between the buffers"])
def test_a_kernel_writing_outside_its_buffers_is_caught(rtl_dir: Path, shift: int,
                                                         message: str) -> None:
    manifest = RtlManifest.model_validate_json((rtl_dir / "manifest.json").read_bytes())
    workload = StrayWrites(manifest, shift)
    (run,) = workload.runs()
    with pytest.raises(CosimError, match=message.format(dst=run.arguments["dst"])):
        cosim(rtl_dir, rtl_dir, workload=workload, cycle_limit=100_000)


def test_the_memory_files_round_trip_and_the_window_is_shared() -> None:
    base = 0x8_0000_0000
    writes = [(base, bytes(range(13))), (base + 4096, b"\xff" * 8)]
    text = load_file(writes, base)
    assert text.splitlines()[:3] == ["@0", "0706050403020100", "0000000c0b0a0908"]
    assert dumped_bytes("// a comment\n0706050403020100\n0000000c0b0a0908\n")[:13] == \
        bytes(range(13))
    assert touched_pages("// 0x0\n0\n1\n@5\n1\n", base) == [base + 4096, base + 5 * 4096]
    assert window([(base, 100), (base + 4096, 50)]) == (base, (1 << 20) // 8)
    assert window([(base + 8, 3 << 20)]) == (base, (4 << 20) // 8)  # a power of two
