"""The accelerator's top-function interface: its arguments, their AXI4-Lite registers, and
the layout of its DDR buffers (shared by the HLS generator, the driver and the emulator).

Vitis HLS lays out an ``s_axilite`` control block as: 0x00 control (ap_start, ap_done,
ap_idle, ap_ready, auto_restart), 0x04 global interrupt enable, 0x08 IP interrupt enable,
0x0C IP interrupt status, then the arguments from 0x10 in declaration order, each padded
to a 32-bit word boundary with one reserved word after it: a 64-bit address takes two
data words (low, high), named ``<arg>_1`` and ``<arg>_2`` in the ``.hwh``, and a 32-bit
scalar one, named as the argument. The HLS generator declares the arguments in this
order, and the driver programs these offsets.

Export resolves all of it into the manifest (``KernelInterface``, ``BufferLayout``); every
consumer reads those records, and loading an artifact checks them against what this
module derives from the model and the formats.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Literal

from pydantic import Field

from .config import ModelConfig
from .fixed_format import FixedFormat
from .network import block_prefix, is_addend
from .quant import QuantSpec
from .schema import Count, Identifier, Positive, Record, TensorName, Text
from .weight_pack import Container, container_bytes

KERNEL_NAME = "edgemoe_top"
VENDOR, LIBRARY, VERSION = "edgemoe.org", "hls", "1.0"
KERNEL_VLNV = f"{VENDOR}:{LIBRARY}:{KERNEL_NAME}:{VERSION}"  # as vitis_hls.tcl exports it
FIRST_ARGUMENT = 0x10


class Register(Record):
    name: Identifier
    offset: Count
    bits: Literal[32] = 32


class ControlBits(Record):
    """The bits of the control register (ap_ctrl_hs) and of the interrupt registers."""

    ap_start: Literal[0x1] = 0x1
    ap_done: Literal[0x2] = 0x2
    ap_idle: Literal[0x4] = 0x4
    ap_ready: Literal[0x8] = 0x8
    auto_restart: Literal[0x80] = 0x80


class ControlRegisters(Record):
    ctrl: Register = Register(name="CTRL", offset=0x00)
    gier: Register = Register(name="GIER", offset=0x04)
    ip_ier: Register = Register(name="IP_IER", offset=0x08)
    ip_isr: Register = Register(name="IP_ISR", offset=0x0C)
    bits: ControlBits = ControlBits()

    def all(self) -> tuple[Register, ...]:
        return self.ctrl, self.gier, self.ip_ier, self.ip_isr


class Argument(Record):
    name: Identifier
    kind: Literal["pointer", "scalar"]  # an m_axi pointer (64-bit address) or a 32-bit value
    bundle: Identifier | None  # the m_axi bundle of a pointer
    description: Text
    offset: Count
    registers: tuple[Register, ...]  # as Vitis HLS names them in the .hwh

    @property
    def words(self) -> int:
        """32-bit data words: 2 for a pointer (low word first), 1 for a scalar."""
        return len(self.registers)


class KernelInterface(Record):
    name: Identifier
    vlnv: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.]+:[A-Za-z0-9_.]+:[A-Za-z0-9_]+:[0-9.]+$")]
    control: ControlRegisters
    arguments: tuple[Argument, ...]
    output_format: FixedFormat | None  # of the tokens the accelerator writes

    def registers(self) -> tuple[Register, ...]:
        """Every register of the control block, in address order."""
        return self.control.all() + tuple(r for a in self.arguments for r in a.registers)

    @property
    def bundles(self) -> list[str]:
        return sorted({a.bundle for a in self.arguments if a.bundle is not None})


#: (name, kind, bundle, description) in declaration order. Four m_axi bundles, one per
#: HP port of the ZCU104's PS: the weights twice (the linear unit's strips alternate
#: between the two, doubling the bandwidth of the memory-bound expert layers), the
#: images and tokens, the scratch. The mirror comes last, so the registers of the others
#: keep their offsets.
ARGUMENTS = (
    ("weights", "pointer", "gmem_weights", "weights.bin, read only"),
    ("images", "pointer", "gmem_io", "input images, uint8 H x W x 3 each"),
    ("tokens", "pointer", "gmem_io", "output tokens, raw words per image"),
    ("scratch", "pointer", "gmem_scratch", "feature maps between layers"),
    ("task_index", "scalar", None, "task index: selects the MoE gates, nothing else"),
    ("num_images", "scalar", None, "images to process in this call"),
    ("debug", "scalar", None, "nonzero: also write scores and gate probabilities to scratch "
     "(the debug tap)"),
    ("weights_mirror", "pointer", "gmem_weights_mirror",
     "the same weights.bin buffer again, read through a second HP port"),
)


def kernel_interface(output_format: FixedFormat | None, name: str = KERNEL_NAME,
                     declared: tuple[tuple[str, str, str | None, str], ...] = ARGUMENTS,
                     ) -> KernelInterface:
    """A top function's interface, register by register: the accelerator's by default."""
    offset, arguments = FIRST_ARGUMENT, []
    for argument, kind, bundle, description in declared:
        if kind == "pointer":
            registers = (Register(name=f"{argument}_1", offset=offset),
                         Register(name=f"{argument}_2", offset=offset + 4))
        else:
            registers = (Register(name=argument, offset=offset),)
        arguments.append(Argument(name=argument, kind=kind, bundle=bundle,
                                  description=description, offset=offset, registers=registers))
        offset += 4 * (len(registers) + 1)  # the data words, then one reserved word
    return KernelInterface(name=name, vlnv=f"{VENDOR}:{LIBRARY}:{name}:{VERSION}",
                           control=ControlRegisters(), arguments=tuple(arguments),
                           output_format=output_format)


# --------------------------------------------------------------------------- DDR buffers
class Tap(Record):
    """One layer output in the scratch buffer."""

    name: TensorName  # as in the artifact's vectors/<task>/<name>.bin
    word: Count  # first AXI word
    elements: Positive
    format: FixedFormat
    container_bytes: Container


class BufferLayout(Record):
    """Where everything lives in the kernel's DDR buffers, in AXI words and bytes."""

    axi_bits: Literal[128, 256, 512]
    word_bytes: Positive
    feature_bits: Literal[8, 16, 32, 64]  # the lane of every value in scratch and the tokens
    wide_bits: Literal[64, 128]  # the exact intermediates (products, sums) of features
    image_bytes: Positive
    image_words: Positive
    token_elements: Positive
    token_words: Positive
    token_bytes: Positive  # one image's output tokens, whole words
    scratch_words: Positive
    scratch_bytes: Positive  # one spare word past the last tap
    taps: tuple[Tap, ...]

    @property
    def lanes(self) -> int:
        return self.axi_bits // self.feature_bits


def container_bits(width: int) -> int:
    for bits in (8, 16, 32, 64):
        if width <= bits:
            return bits
    raise ValueError(f"values {width} bits wide do not fit a 64-bit lane")


def weight_bits(spec: QuantSpec, tensors: Iterable[str]) -> int:
    """The lane of every weight in weights.bin but the addends, and the multipliers' weight
    operand: the container of the widest of them."""
    return container_bits(max(spec.fmt(name).width for name in tensors if not is_addend(name)))


def wide_bits(feature_bits: int) -> int:
    """The exact intermediates (products, sums) of values in ``feature_bits`` lanes."""
    return 64 if feature_bits <= 16 else 128


def tap_names(config: ModelConfig) -> list[tuple[str, int]]:
    """Every traced value of every layer, in scratch order, with its element count."""
    tokens, dim = config.tokens, config.dim
    names: list[tuple[str, int]] = [("embed", tokens * dim)]
    for layer in range(config.layers):
        p = block_prefix(layer)
        names += [(p + n, tokens * dim) for n in ("norm1", "q", "k", "v")]
        names += [(p + "scores", config.heads * tokens * tokens), (p + "attn", tokens * dim),
                  (p + "residual1", tokens * dim), (p + "norm2", tokens * dim)]
        if layer in config.moe_layers:
            names.append((p + "gate_probs", tokens * config.experts))
        else:
            names.append((p + "hidden", tokens * config.mlp_hidden))
        names.append((p + "out", tokens * dim))
    if config.has_final_norm:
        names.append(("norm", tokens * dim))
    return names


def tap_format(spec: QuantSpec, name: str) -> FixedFormat:
    """The format of a traced value (the gate's probabilities are the gate softmax's)."""
    return spec.fmt(name.replace("gate_probs", "gate.prob"))


def buffer_layout(config: ModelConfig, spec: QuantSpec, axi_bits: int) -> BufferLayout:
    """The scratch layout: every traced value of every layer at its own word offset,
    in lanes as wide as the widest of them."""
    names = tap_names(config)
    formats = [tap_format(spec, n) for n, _ in names]
    feature_bits = container_bits(max(f.width for f in formats))
    word_bytes, lanes = axi_bits // 8, axi_bits // feature_bits
    taps, word = [], 0
    for (name, elements), fmt in zip(names, formats, strict=True):
        taps.append(Tap(name=name, word=word, elements=elements, format=fmt,
                        container_bytes=container_bytes(fmt)))
        word += -(-elements // lanes)
    image_bytes = config.image_height * config.image_width * 3
    token_elements = config.tokens * config.dim
    token_words = -(-token_elements // lanes)
    return BufferLayout(axi_bits=axi_bits, word_bytes=word_bytes, feature_bits=feature_bits,
                        wide_bits=wide_bits(feature_bits), image_bytes=image_bytes,
                        image_words=-(-image_bytes // word_bytes),
                        token_elements=token_elements, token_words=token_words,
                        token_bytes=token_words * word_bytes, scratch_words=word,
                        scratch_bytes=(word + 1) * word_bytes, taps=tuple(taps))
