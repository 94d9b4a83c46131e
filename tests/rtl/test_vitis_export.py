"""The cosimulation harness on what Vitis HLS exports: a fixture kernel of our own
(tests/rtl/vitis_export) written as Vitis writes one, with each export feature that broke
the harness on real exports, and each feature's failure mode."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from edgemoe.hls.rtl.cocotb_run import SimulationError, run_testbench
from edgemoe.hls.rtl.cosim import CosimError, Layout, Run, cosim
from edgemoe.sim.kernel_interface import kernel_interface

FIXTURE = Path(__file__).parent / "vitis_export"
TOP = "fixture_top"


class TableWorkload:
    """dst[i] = src[i] + table[src[i] & 255] (32-bit, wrapping), several lengths."""

    kernel = kernel_interface(None, name=TOP, declared=(
        ("src", "pointer", "gmem", "input words"), ("dst", "pointer", "gmem", "output words"),
        ("count", "scalar", None, "words")))
    lane_bytes = 4

    def __init__(self, table: Path, counts: tuple[int, ...] = (1, 37, 200)) -> None:
        self.table = np.array([int(line, 16) for line in table.read_text().split()], np.uint64)
        self.counts = counts

    def runs(self) -> list[Run]:
        rng = np.random.default_rng(3)
        layout, runs = Layout(), []
        for count in self.counts:
            words = rng.integers(0, 2**32, count, dtype=np.uint64)
            expected = (words + self.table[words & 255]) % 2**32
            src, dst = layout.take(4 * count), layout.take(4 * count)
            runs.append(Run(f"table x {count}", {"src": src, "dst": dst, "count": count},
                            {src: words.astype("<u4").tobytes()},
                            {"dst": (dst, expected.astype("<u4").tobytes())}, count))
        return runs


def export(tmp_path: Path, edit=None, folder: str = "verilog") -> Path:
    """A copy of the fixture, its top optionally edited (text in, text out)."""
    target = tmp_path / folder
    shutil.copytree(FIXTURE, target)
    if edit is not None:
        top = target / f"{TOP}.v"
        top.write_text(edit(top.read_text()))
    return target


def clear_on_read(text: str) -> str:
    """The status register clearing on read, in the hardware and in its register map."""
    text = text.replace("(Read/TOW)", "(Read/COR)")
    return text.replace("parameter ISR_CLEAR_ON_READ = 0", "parameter ISR_CLEAR_ON_READ = 1")


def run(folder: Path, **options):
    return cosim(folder, folder, workload=TableWorkload(FIXTURE / f"{TOP}_table.dat"),
                 cycle_limit=20_000, **options)


@pytest.mark.parametrize(("edit", "memory"), [(None, "verilog"), (clear_on_read, "cocotbext")],
                         ids=["toggle on write, Verilog memory", "clear on read, AxiRam"])
def test_an_export_runs_bit_exact_as_it_comes(tmp_path: Path, edit, memory: str) -> None:
    """`#0` in reset, 2-bit LOCK and the AXI side signals, the deadlock detector's include
    with its `wait`, a $readmemh ROM, and either interrupt status mode: no extra flags, with
    the memory in the simulator and with cocotbext-axi's."""
    results = run(export(tmp_path, edit), memory=memory)
    assert [r.name for r in results] == ["table x 1", "table x 37", "table x 200"]
    for result in results:
        assert result.equal, result.first_difference
        assert all(result.protocol.values()), result.protocol


def test_a_register_map_that_misstates_the_status_mode_is_caught(tmp_path: Path) -> None:
    """Hardware that clears on read, acknowledged by toggling: the interrupt stays up, and
    the harness says so instead of waiting for an edge that cannot come."""
    folder = export(tmp_path, lambda text: clear_on_read(text).replace("(Read/COR)",
                                                                       "(Read/TOW)"))
    with pytest.raises(CosimError, match=r"interrupt stayed set after acknowledging it \(TOW"):
        run(folder)


def test_a_missing_table_is_an_error_not_an_empty_rom(tmp_path: Path) -> None:
    folder = export(tmp_path)
    (folder / f"{TOP}_table.dat").unlink()
    with pytest.raises(CosimError, match=r"reads './fixture_top_table.dat' with \$readmem"):
        run(folder)


@pytest.mark.parametrize("name", ["../../etc/passwd", "/etc/passwd", "./a\0b.dat"])
def test_a_table_outside_the_export_is_refused(tmp_path: Path, name: str) -> None:
    folder = export(tmp_path, lambda text: text.replace("./fixture_top_table.dat", name))
    with pytest.raises(CosimError, match="not a file inside the export folder"):
        run(folder)


def test_a_plain_scalar_input_is_refused_by_name(tmp_path: Path) -> None:
    folder = export(tmp_path, lambda text: text.replace(
        "    input  wire        ap_rst_n,\n",
        "    input  wire        ap_rst_n,\n    input  wire [31:0] scale,\n"))
    with pytest.raises(CosimError, match=r"input.* the harness does not drive: scale"):
        run(folder)


def test_ap_ctrl_chain_is_refused(tmp_path: Path) -> None:
    folder = export(tmp_path, lambda text: text.replace(
        "//        others - reserved\n// 0x04",
        "//        bit 4  - ap_continue (Read/Write/SC)\n//        others - reserved\n// 0x04"))
    with pytest.raises(CosimError, match="ap_ctrl_chain"):
        run(folder)


def test_a_register_map_is_required(tmp_path: Path) -> None:
    folder = export(tmp_path, lambda text: text.replace("Address Info", "Addresses"))
    with pytest.raises(CosimError, match="no register map"):
        run(folder)


def test_a_solution_folder_runs_its_impl_export_and_says_so(tmp_path: Path) -> None:
    """impl/verilog (as exported) before syn/verilog; a syn table that differs would give
    other words, so equal results show which one ran."""
    solution = tmp_path / "solution1"
    export(solution, folder="impl/verilog")
    syn = export(solution, folder="syn/verilog")
    table = syn / f"{TOP}_table.dat"
    table.write_text(table.read_text().replace("0", "1"))
    said: list[str] = []
    results = run(solution, log=said.append)
    assert all(r.equal for r in results)
    assert said == [f"{solution} holds impl/verilog and syn/verilog: running impl/verilog"]


@pytest.mark.parametrize(("flags", "error"), [
    ({"include_dirs": True}, "%Error-NEEDTIMINGOPT"),
    ({"build_args": ["--timing", "-CFLAGS", "-fcoroutines"]},
     "Cannot find include file: 'fixture_top_hls_deadlock_detector.vh'"),
])
def test_without_timing_or_the_include_path_verilator_refuses_an_export(
        tmp_path: Path, flags, error: str) -> None:
    """Why the harness passes --timing and the folder's include path: Verilator stops on
    the `#0` and on the detector's include without them."""
    folder = export(tmp_path)
    sources = sorted(folder.glob("*.v"))
    with pytest.raises(SimulationError) as stopped:
        run_testbench(sources, TOP, "edgemoe.sim.testbenches.cosim_tb", "cosim",
                      build_args=flags.get("build_args"), work_dir=tmp_path / "run",
                      include_dirs=[folder] if flags.get("include_dirs") else None)
    log = Path(re.search(r"see (\S+build\.log)", str(stopped.value)).group(1)).read_text()
    assert error in log, log[-2000:]
