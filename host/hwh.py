"""Hardware handoff (.hwh) files: reading the kernel's register map, and writing the
handoff an emulated design needs.

On a board the .hwh comes from Vivado next to the bitstream; pynq parses it into
``ip_dict`` (addresses, VLNVs, register maps) and the driver checks those registers
against the manifest. The emulator writes a .hwh the same parser reads, with the
registers Vitis HLS gives the generated kernel, so the driver runs the same code path.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree

from edgemoe.sim.manifest import Manifest

#: Where the emulated design puts the kernel's control block (the ZCU104's HPM0 window).
CONTROL_BASE = 0xA000_0000
CONTROL_RANGE = 0x1_0000
IOPLL_MHZ = 1500.0  # the PL clocks' source on a ZCU104


#: More than any handoff Vivado writes for a design of this size.
MAX_HWH_BYTES = 64 << 20


class HandoffError(ValueError):
    """A .hwh that cannot be read or does not describe this artifact's kernel."""


def kernel_registers(manifest: Manifest) -> dict[str, tuple[int, int]]:
    """Register name -> (offset, bits) as Vitis HLS names them in the handoff."""
    return {r.name: (r.offset, r.bits) for r in manifest.kernel.registers()}


def register_mismatches(found: dict[str, int], manifest: Manifest) -> list[str]:
    """Every register of the manifest's kernel that ``found`` (name -> offset) places
    elsewhere or not at all, as "NAME at OFFSET (manifest: OFFSET)"."""
    return [f"{name} at {hex(found[name]) if name in found else 'nowhere'} "
            f"(manifest: {offset:#x})"
            for name, (offset, _) in kernel_registers(manifest).items()
            if found.get(name) != offset]


def read_kernel_registers(path: Path, vlnv: str) -> dict[str, int]:
    """Register name -> offset of the module ``vlnv`` in the handoff ``path`` (pynq reads
    the same entries on the board), or a one-line HandoffError."""
    if not path.is_file():
        raise HandoffError(f"no hardware handoff {path} next to the bitstream: pynq needs it "
                           "to find the kernel's registers")
    if path.stat().st_size > MAX_HWH_BYTES:
        raise HandoffError(f"{path} is over {MAX_HWH_BYTES} bytes, no hardware handoff")
    try:
        root = ElementTree.parse(path).getroot()
    except ElementTree.ParseError as err:
        raise HandoffError(f"{path} is no hardware handoff (XML: {err})") from None
    modules = [m for m in root.iter("MODULE") if m.get("VLNV") == vlnv]
    if not modules:
        raise HandoffError(f"{path} holds no {vlnv} kernel")
    found = {}
    for register in modules[0].iter("REGISTER"):
        offsets = [p.get("VALUE", "") for p in register.findall("PROPERTY")
                   if p.get("NAME") == "ADDRESS_OFFSET"]
        try:
            found[register.get("NAME", "")] = int(offsets[0], 0)
        except (IndexError, ValueError):
            raise HandoffError(f"{path}: register {register.get('NAME', '')[:40]!r} has no "
                               "address offset") from None
    return found


def _register(parent: ElementTree.Element, name: str, offset: int, bits: int) -> None:
    register = ElementTree.SubElement(parent, "REGISTER", NAME=name)
    for key, value in (("DESCRIPTION", name), ("ADDRESS_OFFSET", str(offset)),
                       ("SIZE", str(bits)), ("ACCESS", "read-write")):
        ElementTree.SubElement(register, "PROPERTY", NAME=key, VALUE=value)
    fields = ElementTree.SubElement(register, "FIELDS")
    field = ElementTree.SubElement(fields, "FIELD", NAME=name)
    for key, value in (("DESCRIPTION", name), ("BIT_OFFSET", "0"), ("BIT_WIDTH", str(bits)),
                       ("ACCESS", "read-write")):
        ElementTree.SubElement(field, "PROPERTY", NAME=key, VALUE=value)


def write_emulated_hwh(manifest: Manifest, path: Path) -> Path:
    """A handoff for a ZCU104 design holding the kernel on HPM0, as pynq parses it."""
    kernel = manifest.kernel.name
    instance = f"{kernel}_0"
    clock_mhz = manifest.accelerator.clock_mhz
    root = ElementTree.Element("EDKSYSTEM", EDWVERSION="1.2", TIMESTAMP="emulated")
    ElementTree.SubElement(root, "SYSTEMINFO", ARCH="zynquplus",
                           BOARD="xilinx.com:zcu104:part0:1.1", DEVICE="xczu7ev",
                           PACKAGE="ffvc1156", SPEEDGRADE="-2")
    ElementTree.SubElement(root, "EXTERNALPORTS")
    modules = ElementTree.SubElement(root, "MODULES")
    ps = ElementTree.SubElement(modules, "MODULE", FULLNAME="/zynq_ultra_ps_e_0",
                                INSTANCE="zynq_ultra_ps_e_0", MODTYPE="zynq_ultra_ps_e",
                                VLNV="xilinx.com:ip:zynq_ultra_ps_e:3.5")
    parameters = ElementTree.SubElement(ps, "PARAMETERS")
    for clock in range(4):  # PL clock 0 at the kernel clock (1500 MHz IOPLL / 5), others off
        divisor = round(IOPLL_MHZ / clock_mhz) if clock == 0 else 1
        for name, value in ((f"PSU__FPGA_PL{clock}_ENABLE", int(clock == 0)),
                            (f"PSU__CRL_APB__PL{clock}_REF_CTRL__DIVISOR0", divisor),
                            (f"PSU__CRL_APB__PL{clock}_REF_CTRL__DIVISOR1", 1)):
            ElementTree.SubElement(parameters, "PARAMETER", NAME=name, VALUE=str(value))
    memory_map = ElementTree.SubElement(ps, "MEMORYMAP")
    ElementTree.SubElement(
        memory_map, "MEMRANGE", ADDRESSBLOCK="Reg", BASENAME="C_S_AXI_CONTROL_BASEADDR",
        BASEVALUE=hex(CONTROL_BASE), HIGHNAME="C_S_AXI_CONTROL_HIGHADDR",
        HIGHVALUE=hex(CONTROL_BASE + CONTROL_RANGE - 1), INSTANCE=instance,
        IS_DATA="TRUE", IS_INSTRUCTION="TRUE", MASTERBUSINTERFACE="M_AXI_HPM0_FPD",
        MEMTYPE="REGISTER", SLAVEBUSINTERFACE="s_axi_control")
    ElementTree.SubElement(ps, "PORTS")
    module = ElementTree.SubElement(modules, "MODULE", FULLNAME=f"/{instance}",
                                    INSTANCE=instance, MODTYPE=kernel,
                                    VLNV=manifest.kernel.vlnv)
    ElementTree.SubElement(module, "PARAMETERS")
    ElementTree.SubElement(module, "PORTS")
    blocks = ElementTree.SubElement(module, "ADDRESSBLOCKS")
    block = ElementTree.SubElement(blocks, "ADDRESSBLOCK", NAME="Reg", INTERFACE="s_axi_control")
    registers = ElementTree.SubElement(block, "REGISTERS")
    for name, (offset, bits) in kernel_registers(manifest).items():
        _register(registers, name, offset, bits)
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
