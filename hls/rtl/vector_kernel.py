"""``vector_kernel``: GELU or exp over a vector in DDR, behind the interface Vitis HLS gives a
top function (``s_axi_control`` with ``ap_ctrl_hs``, an ``m_axi`` master). Small enough to
simulate in seconds, complete enough that the cosimulation harness drives it exactly as it
drives the exported accelerator: from the argument list of a manifest."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from edgemoe.sim.kernel_interface import KernelInterface, kernel_interface
from edgemoe.sim.schema import Positive, Record
from edgemoe.sim.unit_specs import UnitSpecs, VectorKernelSpec

from .units import RtlError, UnitPlan, bits_unsigned, exp_plan, gelu_plan, port

KERNEL_NAME = "vector_kernel"
BUNDLE = "gmem"
FIFO_DEPTH = 128  # words in each of the read and write buffers
ARGUMENTS = (
    ("src", "pointer", BUNDLE, "input features, lanes packed into AXI words"),
    ("dst", "pointer", BUNDLE, "output features, same packing"),
    ("count", "scalar", None, "number of features"),
    ("op", "scalar", None, "0: GELU, 1: exp"),
)
MANIFEST_FILE = "manifest.json"


class VectorKernelInfo(Record):
    lanes: Positive
    feature_bits: Literal[8, 16, 32, 64]
    axi_bits: Literal[32, 64, 128, 256, 512, 1024]
    max_burst: Positive
    ops: tuple[Literal["gelu", "exp"], ...]


class RtlManifest(Record):
    """``manifest.json`` of an RTL folder: what ``edgemoe rtl cosim`` needs to drive
    ``vector_kernel`` and compute its expected output."""

    kernel: KernelInterface
    vector_kernel: VectorKernelInfo
    specs: dict[str, Any]

    @model_validator(mode="after")
    def _what_the_specs_give(self) -> RtlManifest:
        """The interface and the lanes are vector_kernel's, for these specs (which read
        back typed and in range)."""
        derived = vector_kernel_manifest(UnitSpecs.from_dict(self.specs))
        for name in ("kernel", "vector_kernel"):
            if getattr(self, name) != getattr(derived, name):
                raise ValueError(f"{name} is not what vector_kernel has for these specs")
        return self

    @property
    def unit_specs(self) -> UnitSpecs:
        return UnitSpecs.from_dict(self.specs)


def vector_kernel_interface() -> KernelInterface:
    return kernel_interface(None, KERNEL_NAME, ARGUMENTS)


def _extend(signal: str, width: int, signed: bool, to: int) -> str:
    if width == to:
        return signal
    top = f"{signal}[{width - 1}]" if signed else "1'b0"
    return f"{{{{{to - width}{{{top}}}}}, {signal}}}"


def vector_kernel_plan(spec: VectorKernelSpec) -> UnitPlan:
    lanes, bits = spec.lanes, spec.feature_bits
    if spec.axi_bits % bits or spec.axi_bits < 32 or spec.axi_bits & (spec.axi_bits - 1):
        raise RtlError(f"vector_kernel needs a power-of-two AXI width of whole lanes, got "
                       f"{spec.axi_bits} bits for {bits}-bit features")
    if not 1 <= spec.max_burst <= 256 or spec.max_burst * spec.axi_bits // 8 > 4096:
        raise RtlError(f"vector_kernel bursts are 1 to 256 beats within 4 KiB, got "
                       f"{spec.max_burst}")
    fifo_aw = (FIFO_DEPTH - 1).bit_length()
    if spec.max_burst > FIFO_DEPTH:
        raise RtlError(f"a burst of {spec.max_burst} words does not fit the {FIFO_DEPTH}-word "
                       "read buffer")
    registers = vector_kernel_interface().arguments
    last = max(a.offset + 4 * a.words for a in registers)
    gelu, exp = gelu_plan(spec.gelu), exp_plan(spec.exp)
    credit_w = fifo_aw + 1
    credit = (f"{{{9 - credit_w}'d0, read_credit}}" if credit_w < 9 else "read_credit")
    return UnitPlan(KERNEL_NAME, "vector_kernel.v.j2", latency=max(gelu.latency, exp.latency),
                    depends=("gelu_unit", "exp_unit"), context=dict(
                        arguments=registers, axi_bits=spec.axi_bits, lanes=lanes,
                        feature_bits=bits, max_burst=spec.max_burst, fifo_depth=FIFO_DEPTH,
                        fifo_aw=fifo_aw, beat_size=(spec.axi_bits // 8).bit_length() - 1,
                        control_addr_w=bits_unsigned(last),
                        credit_vs_burst=f"{credit} >= read_burst",
                        gelu=dict(input=port(spec.gelu.input_fmt),
                                  output=port(spec.gelu.output_fmt)),
                        exp=dict(input=port(spec.exp.input_fmt),
                                 output=port(spec.exp.output_fmt)),
                        gelu_extend=_extend("gelu_out", spec.gelu.output_fmt.width,
                                            spec.gelu.output_fmt.signed, bits),
                        exp_extend=_extend("exp_out", spec.exp.output_fmt.width,
                                           spec.exp.output_fmt.signed, bits)))


def vector_kernel_manifest(specs: UnitSpecs) -> RtlManifest:
    """What ``edgemoe rtl cosim`` needs to drive the kernel: its argument registers and
    m_axi bundle, and the formats to compute the expected output with."""
    spec = specs.vector
    return RtlManifest.model_construct(
        kernel=vector_kernel_interface(), vector_kernel=VectorKernelInfo(
            lanes=spec.lanes, feature_bits=spec.feature_bits, axi_bits=spec.axi_bits,
            max_burst=spec.max_burst, ops=VectorKernelSpec.OPS), specs=specs.to_dict())
