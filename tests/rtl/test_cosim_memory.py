"""The cosimulation's memory (the generated ``edgemoe_cosim_top``) against a random AXI4
master of our own (``axi_memory/random_master.v``): bus widths from 32 to 512 bits,
addresses of 40 and 64 bits, IDs of 1 to 3 bits, W ahead of AW, READY stalls and bursts
that start off a bus-width boundary, every byte, ID and RLAST checked by the master."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from edgemoe.hls.rtl.cosim import BASE_ADDRESS
from edgemoe.hls.rtl.cosim_memory import MemoryModelError, elaborated_ports, write_cosim_top
from edgemoe.hls.rtl.verilator_tool import verilator_env

FIXTURE = Path(__file__).parent / "axi_memory"
WORDS = (1 << 20) // 8


def _master(folder: Path, **parameters: int) -> Path:
    """random_master.v with its parameters' defaults set."""
    text = (FIXTURE / "random_master.v").read_text()
    for name, value in parameters.items():
        text, found = re.subn(rf"parameter {name} = \d+", f"parameter {name} = {value}", text)
        assert found == 1, name
    source = folder / "random_master.v"
    source.write_text(text)
    return source


@pytest.mark.parametrize(("data_bits", "addr_bits", "id_bits", "stall", "offset"), [
    (64, 64, 1, 0, 0), (32, 40, 2, 3, 0), (256, 64, 3, 1, 4), (512, 64, 2, 2, 24)],
    ids=["64-bit", "32-bit, 40-bit addresses, READY stalls", "256-bit, W ahead, unaligned",
         "512-bit, AW ahead, unaligned"])
def test_the_memory_serves_a_random_axi_master(tmp_path: Path, data_bits: int, addr_bits: int,
                                              id_bits: int, stall: int, offset: int) -> None:
    source = _master(tmp_path, DATA_BITS=data_bits, ADDR_BITS=addr_bits, ID_BITS=id_bits,
                     STALL=stall, START_OFFSET=offset)
    ports = elaborated_ports([source], "random_master", [])
    wrapper = write_cosim_top(tmp_path / "edgemoe_cosim_top.v", "random_master", ports,
                              ["gmem"], BASE_ADDRESS, WORDS)
    build = subprocess.run(
        ["verilator", "--binary", "--timing", "-CFLAGS", "-fcoroutines", "-Wno-fatal",
         "-Wno-lint", "-Wno-style",
         "--top-module", "memory_tb", "--Mdir", str(tmp_path / "build"), "-o", "memory_tb",
         str(FIXTURE / "memory_tb.v"), str(wrapper), str(source)],
        capture_output=True, text=True, env=verilator_env(), timeout=600)
    assert build.returncode == 0, build.stderr[-3000:]
    done = subprocess.run([str(tmp_path / "build" / "memory_tb")], capture_output=True,
                          text=True, timeout=600)
    assert "random_master: 0 errors" in done.stdout, done.stdout[-3000:]
    assert "fault" not in done.stdout


def test_addresses_that_cannot_reach_the_buffers_are_refused(tmp_path: Path) -> None:
    source = _master(tmp_path, ADDR_BITS=32)
    ports = elaborated_ports([source], "random_master", [])
    with pytest.raises(MemoryModelError, match="m_axi_gmem's 32-bit addresses cannot reach"):
        write_cosim_top(tmp_path / "top.v", "random_master", ports, ["gmem"], BASE_ADDRESS,
                        WORDS)
