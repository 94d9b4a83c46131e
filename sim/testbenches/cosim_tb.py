"""Drive a kernel with the Vitis HLS interface as the board's driver does, from a plan.

The plan (JSON at ``EDGEMOE_COSIM_PLAN``, written by ``edgemoe.hls.rtl.cosim``) names the
kernel's argument registers and m_axi bundles, and lists runs: the bytes to place in memory,
the argument values, and the output regions to read back. Every bundle gets an ``AxiRam``
over one shared memory; the control port an ``AxiLiteMaster``. A run writes the arguments,
enables the ap_done interrupt, sets ap_start and counts clock cycles until ``interrupt``
rises (or until the plan's cycle limit), then checks ap_done reads back set and clears on
read. Output regions are saved to files for the harness to compare; nothing is judged here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, RisingEdge
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam

from .streams import report

AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4
GIE, IER = 0x04, 0x08
MEMORY_BYTES = 2**48  # sparse: only what is written takes room


async def _count_until(dut, limit: int) -> int | None:
    """Clock cycles until ``interrupt`` is high; None past ``limit``."""
    for cycle in range(1, limit + 1):
        await RisingEdge(dut.ap_clk)
        if dut.interrupt.value:
            return cycle
    return None


@cocotb.test()
async def cosim(dut) -> None:
    plan = json.loads(Path(os.environ["EDGEMOE_COSIM_PLAN"]).read_text())
    Clock(dut.ap_clk, 10, unit="ns").start()
    dut.ap_rst_n.value = 0
    control = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk,
                            dut.ap_rst_n, reset_active_level=False)
    rams = []
    for bundle in plan["bundles"]:
        rams.append(AxiRam(AxiBus.from_prefix(dut, f"m_axi_{bundle}"), dut.ap_clk, dut.ap_rst_n,
                           reset_active_level=False, size=MEMORY_BYTES,
                           mem=rams[0].mem if rams else None))
    memory = rams[0]
    await ClockCycles(dut.ap_clk, 10)
    dut.ap_rst_n.value = 1
    await ClockCycles(dut.ap_clk, 5)
    registers = {a["name"]: a for a in plan["arguments"]}
    results = []
    for run in plan["runs"]:
        for region in run["inputs"]:
            memory.write(region["address"], Path(region["file"]).read_bytes())
        for region in run["outputs"]:  # a pattern, so unwritten bytes show
            memory.write(region["address"], bytes([0xA5]) * region["bytes"])
        for name, value in run["arguments"].items():
            register = registers[name]
            for word in range(register["words"]):
                await control.write_dword(register["offset"] + 4 * word,
                                          (value >> (32 * word)) & 0xFFFF_FFFF)
        await control.write_dword(GIE, 1)
        await control.write_dword(IER, 1)
        idle_before = (await control.read_dword(0x00)) & AP_IDLE
        await control.write_dword(0x00, AP_START)
        cycles = await _count_until(dut, plan["cycle_limit"])
        if cycles is None:
            results.append({"name": run["name"], "timeout": True})
            report(runs=results, error=f"run {run['name']!r}: no ap_done within "
                   f"{plan['cycle_limit']} cycles")
            raise AssertionError(f"no ap_done within {plan['cycle_limit']} cycles")
        status = await control.read_dword(0x00)
        again = await control.read_dword(0x00)
        await control.write_dword(0x0C, 1)  # acknowledge the interrupt (toggle on write)
        outputs = {}
        for region in run["outputs"]:
            Path(region["file"]).write_bytes(bytes(memory.read(region["address"],
                                                               region["bytes"])))
            outputs[region["name"]] = region["file"]
        results.append({"name": run["name"], "cycles": cycles, "outputs": outputs,
                        "idle_before": bool(idle_before), "done": bool(status & AP_DONE),
                        "idle_after": bool(status & AP_IDLE),
                        "done_cleared_on_read": not again & AP_DONE})
    report(runs=results)
