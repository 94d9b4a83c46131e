"""A board-less ZCU104 for the real pynq library: ``EmulatedDevice``.

It is a ``pynq.Device`` with the memory-mapped capability, so ``pynq.Overlay``,
``pynq.allocate``, ``DefaultIP`` and ``MMIO`` work on it unchanged:

- ``allocate`` returns real ``PynqBuffer``s over host memory at emulated physical
  addresses. Host and device copies are kept apart as on the board's non-coherent DDR:
  ``flush`` copies host to device, ``invalidate`` device to host, and the kernel sees
  only the device copy, so a missing flush or invalidate shows up as wrong data.
- the kernel's register block is an array over a bytearray with Vitis HLS ``ap_ctrl_hs``
  semantics: 0x00 bit 0 ap_start, bit 1 ap_done (clear on read), bit 2 ap_idle, bit 3
  ap_ready; arguments at the manifest's offsets. Writing ap_start runs the kernel on the
  device memory through a backend: ``sim`` (the Python simulator) or ``csim`` (the
  generated C++ as a shared library).
- faults can be injected for tests: a kernel that never finishes, one that writes a wrong
  word.

``emulate(artifact)`` puts it all together: it makes the device pynq's active one
and writes the bitstream and handoff ``Accelerator.load`` then programs.
"""

from __future__ import annotations

import datetime
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pynq
from pynq import Device
from pynq.buffer import PynqBuffer
from pynq.pl_server.hwh_parser import _HWHUltrascale, get_hwh_name
from pynq.ps import ZU_ARCH, _ClocksUltrascale

from edgemoe.sim.accelerator import Accelerator as SimAccelerator
from edgemoe.sim.artifact import Artifact
from edgemoe.sim.manifest import Manifest
from edgemoe.sim.output_folder import output_folder
from edgemoe.sim.weight_pack import unpack

from .hwh import CONTROL_BASE, CONTROL_RANGE, write_emulated_hwh

#: Emulated buffers live in the ZCU104's upper DDR window (above 4 GiB), so the high word
#: of every 64-bit address is non-zero and a driver that drops it fails. Page aligned.
DDR_BASE = 0x8_0000_0000
PAGE = 4096
#: The ZCU104's IOPLL: 33.333 MHz reference x 90 / 2 = 1500 MHz, the PL clocks' source.
IOPLL_FBDIV, IOPLL_DIV2 = 90, 1
PS_BLOCK = 0x100  # bytes of each PS clock register block pynq maps


class Backend(Protocol):
    def run(self, device: EmulatedDevice, arguments: dict[str, int]) -> None: ...


@dataclass
class _Region:
    address: int
    host: np.ndarray  # uint8 view of the PynqBuffer's memory
    device: np.ndarray  # what the kernel sees
    flushes: int = 0
    invalidates: int = 0


class RegisterFile(np.ndarray):
    """32-bit registers over a bytearray; the manifest's control register is ap_ctrl_hs."""

    def __new__(cls, device: EmulatedDevice, length: int) -> RegisterFile:
        self = np.frombuffer(bytearray(length), dtype=np.uint32).view(cls)
        self.emulator = device
        return self

    def __array_finalize__(self, obj: object) -> None:
        self.emulator = getattr(obj, "emulator", None)

    def _is_control(self, index: object) -> bool:
        return (isinstance(index, (int, np.integer))
                and int(index) == self.emulator.control.ctrl.offset // 4)

    def __getitem__(self, index):
        value = super().__getitem__(index)
        if isinstance(index, (int, np.integer)) and self.emulator.bus_log is not None:
            self.emulator.bus_log.append(("read", int(index) * 4, int(value)))
        if self._is_control(index):
            word, done = int(value), self.emulator.control.bits.ap_done
            if word & done:  # ap_done is cleared by the read that sees it
                np.ndarray.__setitem__(self, index, np.uint32(word & ~done))
            return np.uint32(word)
        return value

    def __setitem__(self, index, value) -> None:
        if isinstance(index, (int, np.integer)) and self.emulator.bus_log is not None:
            self.emulator.bus_log.append(("write", int(index) * 4, int(value)))
        if self._is_control(index):
            bits = self.emulator.control.bits
            word = int(value)
            status_bits = bits.ap_done | bits.ap_idle | bits.ap_ready
            current = int(np.ndarray.__getitem__(self, index))
            np.ndarray.__setitem__(self, index,
                                   np.uint32((current & status_bits) | (word & ~status_bits)))
            if word & bits.ap_start:
                self.emulator.start_kernel()
            return
        super().__setitem__(index, value)


@dataclass
class FaultPlan:
    """One-shot faults for the next kernel run."""

    hang: bool = False
    wrong_word: tuple[int, int] | None = None  # (byte offset in the tokens buffer, xor mask)
    fired: list[str] = field(default_factory=list)


class EmulatedDevice(Device):
    """A ZCU104 with one generated kernel, emulated in this process."""

    capabilities = {"MEMORY_MAPPED": True}  # noqa: RUF012 - pynq's attribute
    arch = ZU_ARCH  # a ZCU104's Cortex-A53s: pynq programs its PL clocks through CRL_APB

    def __init__(self, manifest: Manifest, backend: Backend, tag: str = "emulated_zcu104"):
        super().__init__(tag)
        self.name = tag
        self.manifest, self.backend = manifest, backend
        self.control = manifest.kernel.control
        self.registers = RegisterFile(self, CONTROL_RANGE)
        np.ndarray.__setitem__(self.registers, self.control.ctrl.offset // 4,
                               np.uint32(self.control.bits.ap_idle))
        # The PS clock blocks pynq's Clocks reads and writes; the IOPLL as a ZCU104 boots.
        self.ps_blocks = {base: np.zeros(PS_BLOCK // 4, np.uint32) for base in
                          (_ClocksUltrascale.CRL_APB_ADDRESS, _ClocksUltrascale.CRF_APB_ADDRESS)}
        iopll = 0x20 // 4
        self.ps_blocks[_ClocksUltrascale.CRL_APB_ADDRESS][iopll] = (IOPLL_FBDIV << 8
                                                                    | IOPLL_DIV2 << 16)
        self.regions: dict[int, _Region] = {}
        self.next_address = DDR_BASE
        self.faults = FaultPlan()
        #: Set to a list to record every register access as (kind, offset, value).
        self.bus_log: list[tuple[str, int, int]] | None = None
        self.kernel_runs = 0
        self.timestamp = ""
        self.bitfile_name = None

    # ----------------------------------------------------------------- pynq.Device
    @property
    def default_memory(self) -> EmulatedDevice:
        return self

    def get_bitfile_metadata(self, bitfile_name: str, partial: bool = False) -> _HWHUltrascale:
        """The handoff as pynq parses it on a ZCU104 (its aarch64 parser), with each enabled
        PL clock's frequency, which the board's metadata merge adds."""
        hwh = get_hwh_name(bitfile_name)
        if not Path(hwh).is_file():
            raise FileNotFoundError(f"no hardware handoff {hwh} next to the bitstream")
        parser = _HWHUltrascale(hwh)
        source_mhz = _ClocksUltrascale.DEFAULT_SRC_CLK_MHZ * IOPLL_FBDIV / (1 + IOPLL_DIV2)
        for clock in parser.clock_dict.values():
            if clock.get("enable"):
                clock["frequency"] = round(source_mhz / (clock["divisor0"] * clock["divisor1"]), 3)
        parser.systemgraph = None  # pynqmetadata's graph: nothing here uses it
        return parser

    def download(self, bitstream, parser=None) -> None:
        if not Path(bitstream.bitfile_name).is_file():
            raise FileNotFoundError(f"bitstream {bitstream.bitfile_name} does not exist")
        bitstream.timestamp = datetime.datetime.now().isoformat()
        self.reset(parser, bitstream.timestamp, bitstream.bitfile_name)

    def mmap(self, base_addr: int, length: int) -> np.ndarray:
        if base_addr in self.ps_blocks and length <= PS_BLOCK:
            return self.ps_blocks[base_addr][:length // 4]
        if not CONTROL_BASE <= base_addr < CONTROL_BASE + CONTROL_RANGE:
            raise ValueError(f"nothing is mapped at {base_addr:#x} in the emulated design")
        offset = base_addr - CONTROL_BASE
        return self.registers[offset // 4:(offset + length) // 4]

    def allocate(self, shape, dtype, **kwargs) -> PynqBuffer:
        size = int(np.prod(shape)) * np.dtype(dtype).itemsize
        host = np.zeros(max(size, 1), dtype=np.uint8)
        address = self.next_address
        self.next_address += -(-max(size, 1) // PAGE) * PAGE
        buffer = PynqBuffer(shape, dtype, buffer=host, device=self, device_address=address,
                            bo=address, coherent=False)
        self.regions[address] = _Region(address, host, np.zeros_like(host))
        weakref.finalize(buffer, self.regions.pop, address, None)
        return buffer

    def flush(self, bo: int, offset: int, ptr: int, size: int) -> None:
        region = self.regions[bo]
        region.device[offset:offset + size] = region.host[offset:offset + size]
        region.flushes += 1

    def invalidate(self, bo: int, offset: int, ptr: int, size: int) -> None:
        region = self.regions[bo]
        region.host[offset:offset + size] = region.device[offset:offset + size]
        region.invalidates += 1

    # ----------------------------------------------------------------- the kernel
    def memory(self, address: int, size: int) -> np.ndarray:
        """The device copy of [address, address + size), as the kernel's m_axi sees it."""
        for region in self.regions.values():
            if region.address <= address and address + size <= region.address + len(region.device):
                start = address - region.address
                return region.device[start:start + size]
        raise MemoryError(f"the kernel accessed {size} bytes at {address:#x}, outside every "
                          "allocated buffer")

    def region(self, address: int) -> _Region:
        """The allocation that starts at ``address``."""
        if address not in self.regions:
            raise MemoryError(f"no buffer starts at {address:#x}: the kernel was started "
                              "without valid buffer addresses")
        return self.regions[address]

    def arguments(self) -> dict[str, int]:
        """Each argument's value from its registers (low word first)."""
        return {argument.name: sum(
            int(np.ndarray.__getitem__(self.registers, register.offset // 4)) << (32 * index)
            for index, register in enumerate(argument.registers))
            for argument in self.manifest.kernel.arguments}

    def check_mirror(self, arguments: dict[str, int]) -> None:
        """The kernel reads every other weight strip through ``weights_mirror``: it must
        see the same bytes as ``weights`` (the driver passes one buffer twice)."""
        size = self.manifest.weights.bytes
        if arguments["weights_mirror"] != arguments["weights"] and not np.array_equal(
                self.memory(arguments["weights_mirror"], size),
                self.memory(arguments["weights"], size)):
            raise MemoryError(f"weights_mirror ({arguments['weights_mirror']:#x}) does not "
                              f"hold the weight pack at weights ({arguments['weights']:#x}): "
                              "the kernel would read half its strips from elsewhere")

    def start_kernel(self) -> None:
        control, bits = self.control.ctrl.offset // 4, self.control.bits
        np.ndarray.__setitem__(self.registers, control, np.uint32(bits.ap_start))  # busy
        if self.faults.hang:
            self.faults.hang = False
            self.faults.fired.append("hang")
            return  # never finishes; the next ap_start runs normally
        arguments = self.arguments()
        self.check_mirror(arguments)
        self.backend.run(self, arguments)
        self.kernel_runs += 1
        if self.faults.wrong_word is not None:
            offset, mask = self.faults.wrong_word
            self.faults.wrong_word = None
            self.faults.fired.append("wrong_word")
            self.memory(arguments["tokens"] + offset, 1)[0] ^= mask
        np.ndarray.__setitem__(self.registers, control,
                               np.uint32(bits.ap_done | bits.ap_idle | bits.ap_ready))


def _lanes(raw: np.ndarray, bits: int) -> bytes:
    return np.ascontiguousarray(raw).astype(f"<i{bits // 8}").tobytes()


class SimBackend:
    """The kernel as the Python simulator computes it, on the emulated DDR."""

    def __init__(self, manifest: Manifest) -> None:
        self.manifest = manifest
        self.layout = manifest.buffers
        self._engine: tuple[int, int, SimAccelerator] | None = None
        self.weight_unpacks = 0  # how often the kernel (re)read the weight pack

    def engine(self, device: EmulatedDevice, address: int) -> SimAccelerator:
        """The weights the kernel reads at ``address``, unpacked once per flush of them."""
        region = device.region(address)
        if self._engine is None or self._engine[:2] != (address, region.flushes):
            blob = device.memory(address, self.manifest.weights.bytes).tobytes()
            weights = unpack(blob, self.manifest.tensors)
            engine = SimAccelerator.from_manifest(self.manifest, weights)
            self._engine = (address, region.flushes, engine)
            self.weight_unpacks += 1
        return self._engine[2]

    def run(self, device: EmulatedDevice, arguments: dict[str, int]) -> None:
        config, layout = self.manifest.config, self.layout
        engine = self.engine(device, arguments["weights"])
        task = config.tasks[arguments["task_index"]]
        shape = (config.image_height, config.image_width, 3)
        pictures = [device.memory(arguments["images"] + image * layout.image_bytes,
                                  layout.image_bytes).reshape(shape)
                    for image in range(arguments["num_images"])]
        results = engine.run_batch(pictures, task) if pictures else []
        for image, result in enumerate(results):
            data = _lanes(result.tokens.raw.reshape(-1), layout.feature_bits)
            target = device.memory(arguments["tokens"] + image * layout.token_bytes,
                                   layout.token_bytes)
            target[:len(data)] = np.frombuffer(data, np.uint8)


#: Builds a kernel backend for an artifact: (manifest, artifact folder, work folder).
BackendFactory = Callable[[Manifest, Path, Path], Backend]


def sim_backend(manifest: Manifest, artifact: Path, workdir: Path) -> SimBackend:
    return SimBackend(manifest)


def emulate(artifact: str | Path | Artifact, workdir: str | Path | None = None,
            backend: BackendFactory = sim_backend) -> tuple[EmulatedDevice, Path]:
    """Make an emulated ZCU104 running ``artifact``'s kernel pynq's active device.

    Returns the device and the bitstream to give ``Accelerator.load``: an emulated design
    file with its ``.hwh`` in ``workdir`` (default ``build/NAME/emulated``). ``backend``
    builds the kernel: the Python simulator by default (the generated C++ is
    ``edgemoe.host.flow.csim_backend``, which may import the code generators).
    """
    loaded = artifact if isinstance(artifact, Artifact) else Artifact(artifact)
    manifest = loaded.manifest
    workdir = Path(workdir) if workdir else Path("build") / loaded.root.resolve().name / "emulated"
    kernel = backend(manifest, loaded.root, workdir)
    with output_folder(workdir, "emulate") as folder:
        write_emulated_hwh(manifest, folder / "edgemoe.hwh")
        (folder / "edgemoe.bit").write_text(f"emulated design for {manifest.config.name}: no "
                                            "configuration data\n")
    device = EmulatedDevice(manifest, kernel)
    pynq.Device.active_device = device
    return device, workdir / "edgemoe.bit"
