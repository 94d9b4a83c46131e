"""Simulated clock cycles per wall-clock second of gelu_unit: Verilator against Icarus.

Both run the same cocotb testbench (same inputs, one per cycle) on the same generated
Verilog; builds are cached first, so only simulation is timed. The figure is the cycles the
testbench ran divided by the seconds the test took, per simulator.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from edgemoe.hls.rtl.check import check_unit
from edgemoe.hls.rtl.cocotb_run import simulator_available
from edgemoe.hls.rtl.generate import generate_rtl


def cycles_per_second(rtl_dir: Path, simulator: str, samples: int) -> float:
    check_unit(rtl_dir, "gelu_unit", simulator, samples=64, exhaustive=False)  # build
    started = time.perf_counter()
    found = check_unit(rtl_dir, "gelu_unit", simulator, samples=samples, exhaustive=False)
    seconds = time.perf_counter() - started
    if not found["passed"]:
        raise SystemExit(f"gelu_unit is not bit-exact under {simulator}: {found}")
    inputs = found["back_to_back"]["inputs"] + found["stalled"]["inputs"]
    return inputs / seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--samples", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgemoe-rtl-speed-") as tmp:
        rtl_dir = generate_rtl(Path(tmp) / "rtl")
        verilator = cycles_per_second(rtl_dir, "verilator", args.samples)
        print(f"verilator: {verilator:,.0f} cycles/s")
        if not simulator_available("icarus"):
            print("icarus: not installed (apt-get install iverilog)")
            print(f"gelu_unit_verilator: {verilator:,.0f} cycles/s")
            return
        icarus = cycles_per_second(rtl_dir, "icarus", args.samples)
        print(f"icarus: {icarus:,.0f} cycles/s")
    print(f"gelu_unit_verilator_vs_icarus: {verilator / icarus:.2f}x (target >= 1x)")


if __name__ == "__main__":
    main()
