"""Simulated cycles per second of the cosimulation harness on vector_kernel, one long
streaming run each, in one process: the harness (the memory inside the simulator, waiting
for `interrupt`) against the way it used to run (cocotbext-axi's AxiRam in Python,
`interrupt` polled from Python at every clock edge).

vector_kernel moves a word in and a word out every cycle, so the old way wakes Python every
cycle for the bus alone; the new way runs no Python from ap_start to the interrupt.
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
        ways = {"old": ("AxiRam, polled", {"memory": "cocotbext", "poll_each_cycle": True}),
                "new": ("Verilog memory, interrupt", {})}
        for way, (name, options) in ways.items():
            workload = VectorKernelWorkload(manifest, counts=(count,))
            (result,) = cosim(rtl, rtl, workload=workload, cycle_limit=100 * args.words,
                              **options)
            assert result.equal, result.first_difference
            rates[way] = result.cycles / result.seconds
            print(f"{name:26} {result.cycles:>8} cycles in {result.seconds:6.2f} s: "
                  f"{rates[way]:>10.0f} cycles/s, bit-exact")
    print(f"cosim_new_vs_old_vector_kernel: {rates['new'] / rates['old']:.1f}x "
          "(target >= 5x)")


if __name__ == "__main__":
    main()
