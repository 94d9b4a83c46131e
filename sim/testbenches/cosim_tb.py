"""Drive a kernel with the Vitis HLS interface as the board's driver does, from a plan.

The plan (JSON at ``EDGEMOE_COSIM_PLAN``, written by ``edgemoe.hls.rtl.cosim``) names the
kernel's argument registers, m_axi bundles and control protocol, and lists runs: the bytes
to place in memory, the argument values, and the output regions to read back. Every bundle
is served from one shared memory: by default the Verilog memory of the harness's wrapper
(``edgemoe_cosim_top``), filled and read through files, so no Python runs while the kernel
works; or cocotbext-axi's ``AxiRam`` on the export's own ports (the reference, which wakes
Python every beat). The control port is an ``AxiLiteMaster``. A run
writes the arguments, enables the ap_done interrupt, sets ap_start and waits for
``interrupt`` under the plan's cycle limit, then checks ap_done reads back set and clears
on read, and acknowledges the interrupt as the export's status register wants it (toggle
on write, or clear on read). Output regions are saved to files for the harness to compare;
nothing is judged here.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import (
    ClockCycles,
    FallingEdge,
    RisingEdge,
    SimTimeoutError,
    with_timeout,
)
from cocotbext.axi import AxiBus, AxiLiteBus, AxiLiteMaster, AxiRam
from cocotbext.axi.axi_channels import (
    AxiARBus,
    AxiAWBus,
    AxiBBus,
    AxiRBus,
    AxiReadBus,
    AxiWBus,
    AxiWriteBus,
)

from .memory_files import (
    DUMP_FILE,
    LOAD_FILE,
    TOUCHED_FILE,
    dumped_bytes,
    load_file,
    touched_pages,
)
from .streams import report

AP_START, AP_DONE, AP_IDLE = 0x1, 0x2, 0x4
CTRL, GIE, IER, ISR = 0x00, 0x04, 0x08, 0x0C
MEMORY_BYTES = 2**48  # sparse: only what is written takes room
PERIOD_NS = 10
ACKNOWLEDGE_CYCLES = 4  # for the interrupt to fall once acknowledged


def _without_sidebands(channel: type) -> type:
    """A channel's bus without the side signals (LOCK, CACHE, PROT, QOS, REGION and the
    USER signals both ways): a memory ignores them, and cocotbext-axi asserts AXI4 widths
    Vitis does not always use (2-bit LOCK). WSTRB and the responses stay."""
    kept = [s for s in channel._optional_signals if s.endswith(("strb", "resp"))]
    return type(channel.__name__, (channel,), {"_optional_signals": kept})


AW, W, B, AR, R = (_without_sidebands(c) for c in (AxiAWBus, AxiWBus, AxiBBus, AxiARBus,
                                                   AxiRBus))


def memory_bus(dut, prefix: str) -> AxiBus:
    write = AxiWriteBus.from_channels(AW.from_prefix(dut, prefix), W.from_prefix(dut, prefix),
                                      B.from_prefix(dut, prefix))
    read = AxiReadBus.from_channels(AR.from_prefix(dut, prefix), R.from_prefix(dut, prefix))
    return AxiBus(write, read)


class SimulatorMemory:
    """The wrapper's Verilog memory: writes are gathered and loaded with one ``$readmemh``;
    a read is one ``$writememh`` of the words it spans. One clock edge each."""

    def __init__(self, dut, base: int, words: int) -> None:
        self.dut, self.base, self.words = dut, base, words
        self.pending: list[tuple[int, bytes]] = []
        for signal in (dut.memory_load, dut.memory_dump, dut.memory_dump_first,
                       dut.memory_dump_last):
            signal.value = 0

    def write(self, address: int, data: bytes) -> None:
        self.pending.append((address, data))

    async def _pulse(self, signal) -> None:
        signal.value = 1
        await RisingEdge(self.dut.ap_clk)
        signal.value = 0
        await RisingEdge(self.dut.ap_clk)

    async def commit(self) -> None:
        if self.pending:
            Path(LOAD_FILE).write_text(load_file(self.pending, self.base))
            self.pending = []
            await self._pulse(self.dut.memory_load)

    async def _dump(self, first: int, last: int) -> bytes:
        """Words ``first`` to ``last`` of the window (a file of this dump, never a stale one)."""
        for name in (DUMP_FILE, TOUCHED_FILE):
            Path(name).unlink(missing_ok=True)
        self.dut.memory_dump_first.value = first
        self.dut.memory_dump_last.value = last
        await self._pulse(self.dut.memory_dump)
        data = dumped_bytes(Path(DUMP_FILE).read_text())
        if len(data) != 8 * (last - first + 1):
            raise AssertionError(f"$writememh gave {len(data)} bytes for words {first} to "
                                 f"{last}")
        return data

    async def read(self, address: int, size: int) -> bytes:
        first = (address - self.base) // 8
        data = await self._dump(first, (address + size - 1 - self.base) // 8)
        offset = address - self.base - 8 * first
        return data[offset:offset + size]

    async def touched(self) -> list[int]:
        """The 4 KiB pages the kernel's beats went to since the memory was last loaded."""
        await self._dump(0, 0)
        return touched_pages(Path(TOUCHED_FILE).read_text(), self.base)

    def fault(self) -> str | None:
        if not self.dut.memory_fault.value:
            return None
        return (f"the kernel accessed {int(self.dut.memory_fault_address.value):#x}, outside "
                "the memory that holds the run's buffers, or with a beat narrower than its "
                "bus or a burst other than INCR")


class CocotbextMemory:
    """cocotbext-axi's ``AxiRam`` on every bundle, over one shared memory."""

    def __init__(self, dut, bundles: list[str], held_at_zero: list[str]) -> None:
        rams: list[AxiRam] = []
        for bundle in bundles:
            for name in held_at_zero:  # m_axi inputs a memory does not use
                if hasattr(dut, f"m_axi_{bundle}_{name}"):
                    getattr(dut, f"m_axi_{bundle}_{name}").value = 0
            rams.append(AxiRam(memory_bus(dut, f"m_axi_{bundle}"), dut.ap_clk, dut.ap_rst_n,
                               reset_active_level=False, size=MEMORY_BYTES,
                               mem=rams[0].mem if rams else None))
        self.ram = rams[0]

    def write(self, address: int, data: bytes) -> None:
        self.ram.write(address, data)

    async def commit(self) -> None:
        return None

    async def read(self, address: int, size: int) -> bytes:
        return bytes(self.ram.read(address, size))

    async def touched(self) -> None:  # AxiRam does not keep count
        return None

    def fault(self) -> str | None:
        return None


async def _cycles_until_interrupt(dut, limit: int, poll_each_cycle: bool) -> int | None:
    """Clock cycles from now until ``interrupt`` rises; None past ``limit``. Waiting on the
    edge lets the simulator run without Python in between; polling every cycle is the
    slow reference (benchmarks/cosim_speed.py)."""
    if poll_each_cycle:
        for cycle in range(1, limit + 1):
            await RisingEdge(dut.ap_clk)
            if dut.interrupt.value:
                return cycle
        return None
    if dut.interrupt.value:
        return 1
    start = get_sim_time("ns")
    try:
        await with_timeout(RisingEdge(dut.interrupt), limit * PERIOD_NS, "ns")
    except SimTimeoutError:
        return None
    # the interrupt rises just after a clock edge; the next edge is the first to see it,
    # which is the cycle the polling loop counts
    return -(-round(get_sim_time("ns") - start) // PERIOD_NS) + 1


async def _acknowledge(control: AxiLiteMaster, status_mode: str) -> None:
    """Clear the ap_done interrupt: toggle on write, or clear on read."""
    if status_mode == "TOW":
        await control.write_dword(ISR, 1)
    else:
        await control.read_dword(ISR)


@cocotb.test()
async def cosim(dut) -> None:
    plan = json.loads(Path(os.environ["EDGEMOE_COSIM_PLAN"]).read_text())
    Clock(dut.ap_clk, PERIOD_NS, unit="ns").start()
    dut.ap_rst_n.value = 0
    control = AxiLiteMaster(AxiLiteBus.from_prefix(dut, "s_axi_control"), dut.ap_clk,
                            dut.ap_rst_n, reset_active_level=False)
    layout = plan["memory"]
    if layout["model"] == "verilog":
        memory = SimulatorMemory(dut, layout["base"], layout["words"])
    else:
        memory = CocotbextMemory(dut, plan["bundles"], plan["held_at_zero"])
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
        await memory.commit()
        for name, value in run["arguments"].items():
            register = registers[name]
            for word in range(register["words"]):
                await control.write_dword(register["offset"] + 4 * word,
                                          (value >> (32 * word)) & 0xFFFF_FFFF)
        await control.write_dword(GIE, 1)
        await control.write_dword(IER, 1)
        idle_before = (await control.read_dword(CTRL)) & AP_IDLE
        started = time.perf_counter()
        await control.write_dword(CTRL, AP_START)
        cycles = await _cycles_until_interrupt(dut, plan["cycle_limit"],
                                               plan["poll_each_cycle"])
        seconds = time.perf_counter() - started
        if cycles is None:
            results.append({"name": run["name"], "timeout": True})
            fault = memory.fault()  # a stray access may be why
            report(runs=results, error=f"run {run['name']!r}: no ap_done within "
                   f"{plan['cycle_limit']} cycles (the cycle limit stopped the run)"
                   + (f"; before that, {fault}" if fault else ""))
            raise AssertionError(f"no ap_done within {plan['cycle_limit']} cycles")
        status = await control.read_dword(CTRL)
        again = await control.read_dword(CTRL)
        await _acknowledge(control, plan["interrupt_status"])
        if dut.interrupt.value:  # a registered interrupt falls a few cycles later
            with contextlib.suppress(SimTimeoutError):
                await with_timeout(FallingEdge(dut.interrupt), ACKNOWLEDGE_CYCLES * PERIOD_NS,
                                   "ns")
        if dut.interrupt.value:
            message = (f"run {run['name']!r}: the interrupt stayed set after acknowledging it "
                       f"({plan['interrupt_status']}, as the register map says): the next "
                       "ap_done could not be seen")
            report(runs=results, error=message)
            raise AssertionError(message)
        fault = memory.fault()
        if fault is not None:
            report(runs=results, error=f"run {run['name']!r}: {fault}")
            raise AssertionError(fault)
        outputs = {}
        for region in run["outputs"]:
            Path(region["file"]).write_bytes(await memory.read(region["address"],
                                                               region["bytes"]))
            outputs[region["name"]] = region["file"]
        touched = await memory.touched()
        results.append({"name": run["name"], "cycles": cycles, "seconds": seconds,
                        "outputs": outputs, "touched": touched,
                        "idle_before": bool(idle_before),
                        "done": bool(status & AP_DONE), "idle_after": bool(status & AP_IDLE),
                        "done_cleared_on_read": not again & AP_DONE})
    report(runs=results)
