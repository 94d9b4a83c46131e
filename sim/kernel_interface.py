"""The accelerator's top-function interface: its arguments, their AXI4-Lite registers, and
the layout of its DDR buffers (shared by the HLS generator, the driver and the emulator).

Vitis HLS lays out an ``s_axilite`` control block as: 0x00 control (ap_start, ap_done,
ap_idle, ap_ready, auto_restart), 0x04 global interrupt enable, 0x08 IP interrupt enable,
0x0C IP interrupt status, then the arguments from 0x10 in declaration order, each padded
to a 32-bit word boundary with one reserved word after it: a 64-bit address takes two
data words (low, high) and a 32-bit scalar one. The HLS generator declares the arguments
in this order, and the driver programs these offsets.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

from .config import ModelConfig
from .fixed_format import FixedFormat
from .quant import QuantSpec

KERNEL_NAME = "edgemoe_top"
CONTROL = {"ap_ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C}
FIRST_ARGUMENT = 0x10


@dataclass(frozen=True)
class Argument:
    name: str
    kind: str  # "pointer" (m_axi, 64-bit address) or "scalar" (32-bit)
    bundle: str | None  # m_axi bundle of a pointer
    description: str


ARGUMENTS = (
    Argument("weights", "pointer", "gmem_weights", "weights.bin, read only"),
    Argument("images", "pointer", "gmem_features", "input images, uint8 H x W x 3 each"),
    Argument("tokens", "pointer", "gmem_features", "output tokens, raw words per image"),
    Argument("scratch", "pointer", "gmem_features", "feature maps between layers"),
    Argument("task", "scalar", None, "task index: selects the MoE gates, nothing else"),
    Argument("num_images", "scalar", None, "images to process in this call"),
    Argument("debug", "scalar", None, "nonzero: also write scores and gate probabilities "
             "to scratch (the debug tap)"),
)


def register_map(arguments: tuple[Argument, ...] = ARGUMENTS) -> list[dict]:
    """Each argument with its register offset (and width in 32-bit words)."""
    offset, out = FIRST_ARGUMENT, []
    for argument in arguments:
        words = 2 if argument.kind == "pointer" else 1
        out.append({**asdict(argument), "offset": offset, "words": words})
        offset += 4 * (words + 1)  # the data words, then one reserved word
    return out


# --------------------------------------------------------------------------- DDR buffers
@dataclass(frozen=True)
class Tap:
    """One layer output in the scratch buffer."""

    name: str  # as in the artifact's vectors/<task>/<name>.bin
    word: int  # first AXI word
    elements: int
    format: FixedFormat


@dataclass(frozen=True)
class BufferLayout:
    """Where everything lives in the kernel's DDR buffers, in AXI words and bytes."""

    feature_bits: int  # the lane of every value in scratch and in the output tokens
    axi_bits: int
    taps: tuple[Tap, ...]
    scratch_words: int
    image_bytes: int
    token_elements: int

    @property
    def word_bytes(self) -> int:
        return self.axi_bits // 8

    @property
    def scratch_bytes(self) -> int:
        return (self.scratch_words + 1) * self.word_bytes

    @property
    def token_bytes(self) -> int:
        """One image's output tokens (TOKENS x DIM lanes), whole words."""
        lanes = self.axi_bits // self.feature_bits
        return -(-self.token_elements // lanes) * self.word_bytes

    def tap(self, name: str) -> Tap:
        return next(t for t in self.taps if t.name == name)


def container_bits(width: int) -> int:
    for bits in (8, 16, 32, 64):
        if width <= bits:
            return bits
    raise ValueError(f"values {width} bits wide do not fit a 64-bit lane")


def weight_bits(spec: QuantSpec, tensors: Iterable[str]) -> int:
    """The lane of every weight in weights.bin, and the multipliers' weight operand: the
    container of the widest tensor."""
    return container_bits(max(spec.fmt(name).width for name in tensors))


def wide_bits(feature_bits: int) -> int:
    """The exact intermediates (products, sums) of values in ``feature_bits`` lanes."""
    return 64 if feature_bits <= 16 else 128


def buffer_layout(config: ModelConfig, spec: QuantSpec, axi_bits: int) -> BufferLayout:
    """The scratch layout: every traced value of every layer at its own word offset,
    in lanes as wide as the widest of them."""
    names: list[tuple[str, int]] = [("embed", config.tokens * config.dim)]
    for layer in range(config.layers):
        p = f"blocks.{layer}."
        names += [(p + n, config.tokens * config.dim) for n in ("norm1", "q", "k", "v")]
        names += [(p + "scores", config.heads * config.tokens * config.tokens),
                  (p + "attn", config.tokens * config.dim),
                  (p + "residual1", config.tokens * config.dim),
                  (p + "norm2", config.tokens * config.dim)]
        if layer in config.moe_layers:
            names.append((p + "gate_probs", config.tokens * config.experts))
        else:
            names.append((p + "hidden", config.tokens * config.mlp_hidden))
        names.append((p + "out", config.tokens * config.dim))
    names.append(("norm", config.tokens * config.dim))
    formats = [spec.fmt(n.replace("gate_probs", "gate.prob")) for n, _ in names]
    feature_bits = container_bits(max(f.width for f in formats))
    lanes = axi_bits // feature_bits
    taps, word = [], 0
    for (name, elements), fmt in zip(names, formats, strict=True):
        taps.append(Tap(name, word, elements, fmt))
        word += -(-elements // lanes)
    return BufferLayout(feature_bits, axi_bits, tuple(taps), word,
                        config.image_height * config.image_width * 3,
                        config.tokens * config.dim)
