"""Simulated cycles per second of the cosimulation harness on vector_kernel: waiting for
`interrupt` (the harness) against polling it from Python at every clock edge (the way it
used to), one long streaming run each, in one process.

vector_kernel moves a word in and a word out every cycle, so cocotbext-axi's Python
channel models wake every cycle either way; the figure is what the harness gains where
the bus is busy. Where a kernel computes without touching memory, nothing in Python runs
between edges and the gain is that of the simulator alone.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from edgemoe.hls.rtl.cosim import VectorKernelWorkload, cosim
from edgemoe.hls.rtl.generate import generate_rtl
from edgemoe.hls.rtl.vector_kernel import RtlManifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--words", type=int, default=20_000, help="AXI words in and out")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        rtl = generate_rtl(Path(scratch) / "rtl")
        manifest = RtlManifest.model_validate_json((rtl / "manifest.json").read_bytes())
        count = args.words * manifest.vector_kernel.lanes
        rates = {}
        for poll in (True, False):
            workload = VectorKernelWorkload(manifest, counts=(count,))
            (result,) = cosim(rtl, rtl, workload=workload, cycle_limit=100 * args.words,
                              poll_each_cycle=poll)
            assert result.equal, result.first_difference
            way = "poll each cycle" if poll else "wait for interrupt"
            rates[poll] = result.cycles / result.seconds
            print(f"{way:20} {result.cycles:>8} cycles in {result.seconds:6.2f} s: "
                  f"{rates[poll]:>9.0f} cycles/s, bit-exact")
    print(f"cosim_interrupt_vs_poll_vector_kernel: {rates[False] / rates[True]:.2f}x "
          "(target >= 5x)")


if __name__ == "__main__":
    main()
