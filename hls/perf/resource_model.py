"""Resources of the generated accelerator against the ZCU104's xczu7ev.

DSPs come from the multipliers the generated loops instantiate (unrolled MACs, one per
pipelined MAC loop) and their operand widths: a DSP48E2 multiplies 27 x 18 bits signed, so a
16 x 16 product takes one and wider operands take more. Block RAM, UltraRAM and LUTRAM come
from every on-chip array as its pragmas shape it: array_partition makes banks (each its own
memory), array_reshape packs elements into wider entries, bind_storage names the memory
(else small banks go to LUTs, the rest to block RAM). LUT and FF are rough: a per-MAC and per-unit
cost plus the AXI interfaces, with the yosys figures of the RTL units where they exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .cycle_model import Design

ZCU104 = {"dsp": 1728, "bram36": 312, "uram": 96, "lut": 230_400, "ff": 460_800}
#: Block RAM18 shapes (depth, width); a BRAM36 is two of them.
BRAM18_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
URAM_SHAPE = (4096, 72)
LUTRAM_DEPTH = 64  # one LUT holds 64 x 1 bits
AUTO_LUTRAM_BITS = 1024  # Vitis HLS builds banks this small from LUTs unless told otherwise
#: Rough per-unit logic (yosys synth_xilinx of the RTL units, int16 formats).
UNIT_LOGIC = {"gelu": (106, 110), "exp": (147, 142), "reciprocal": (393, 206),
              "rsqrt": (388, 228)}
MAC_LOGIC = (40, 60)  # LUT, FF per multiplier: operand registers and its share of the adders
#: AXI4-Lite control, four m_axi adapters (about 1,000 LUT and 1,500 FF each), control FSMs
INTERFACE_LOGIC = (10_000, 13_500)


def dsp_per_multiplier(a_bits: int, b_bits: int) -> int:
    """DSP48E2s for an a x b signed product (27 x 18 per DSP), the cheaper orientation."""
    def count(x: int, y: int) -> int:
        return math.ceil(x / 27) * math.ceil(y / 18)
    return min(count(a_bits, b_bits), count(b_bits, a_bits))


@dataclass(frozen=True)
class Array:
    """An on-chip array as the pragmas shape it: ``banks`` memories (array_partition), each
    ``depth`` entries of ``width`` bits (array_reshape packs several elements into one
    entry), bound to ``impl`` (bind_storage; "auto" lets the tool choose by size)."""

    name: str
    depth: int
    width: int
    banks: int = 1
    impl: str = "auto"

    @property
    def memory(self) -> str:
        if self.impl != "auto":
            return self.impl
        return "lutram" if self.depth * self.width <= AUTO_LUTRAM_BITS else "bram"

    @property
    def bram36(self) -> float:
        if self.memory != "bram":
            return 0.0
        halves = min(math.ceil(self.width / w) * math.ceil(self.depth / d)
                     for d, w in BRAM18_SHAPES)
        return halves / 2 * self.banks

    @property
    def uram(self) -> int:
        if self.memory != "uram":
            return 0
        depth, width = URAM_SHAPE
        return math.ceil(self.width / width) * math.ceil(self.depth / depth) * self.banks

    @property
    def lut(self) -> int:
        if self.memory != "lutram":
            return 0
        return math.ceil(self.depth / LUTRAM_DEPTH) * self.width * self.banks


@dataclass(frozen=True)
class Resources:
    dsp: int
    bram36: float
    uram: int
    lut: int
    ff: int
    arrays: tuple[Array, ...]

    def fits(self, budget: dict[str, float] = ZCU104) -> bool:
        return all(getattr(self, k) <= v for k, v in budget.items())

    def utilization(self, budget: dict[str, float] = ZCU104) -> dict[str, float]:
        return {k: getattr(self, k) / v for k, v in budget.items()}


def arrays(design: Design) -> list[Array]:
    """The generated kernels' on-chip arrays, shaped by their pragmas
    (hls/templates/project/src)."""
    c, a = design.config, design.accelerator
    f, w, wide = design.feature_bits, design.weight_bits, design.wide_bits
    operand = f + 1
    feature_lanes = design.feature_lanes
    max_inputs, max_outputs = design.max_inputs, design.max_outputs
    strip_words = a.tile_out * max_inputs * w // design.port.axi_bits
    image_words = c.image_height * c.image_width * 3 * 8 // design.port.axi_bits
    t = c.tokens
    groups, group_dim = design.head_groups, design.attention_heads * c.head_dim
    # the shared feature buffers' rows: whole words of every unit's lanes
    block = design.feature_block
    buffer_words = -(-max(max_inputs, max_outputs) // block)
    found = [
        # top.cpp: the buffers every unit shares
        Array("feature buffers (two sides)", t * buffer_words, block * f, 2, "uram"),
        Array("token rows (residual, positions, MoE tokens)", t * buffer_words, block * f,
              impl="uram"),
        # linear.cpp
        Array("linear weight strips (ping/pong)", max_inputs // a.tile_in, a.tile_in * w,
              2 * a.tile_out, "lutram"),
        Array("linear accumulators", t, design.sum_widths.linear, a.tile_out),
        Array("linear bias", max_outputs // a.tile_out, wide, a.tile_out, "lutram"),
        Array("linear weight streams (one a port)", strip_words, design.port.axi_bits, 2),
        # patch_embed.cpp
        Array("image", image_words, design.port.axi_bits, impl="uram"),
        Array("class token", c.dim // feature_lanes, feature_lanes * f),
        # layer_norm.cpp
        Array("layer norm gamma, beta", c.dim // feature_lanes, wide, 2 * feature_lanes),
        # attention.cpp
        # (K, V, the queries and the sums hold a head group's slice of a row an entry)
        Array("attention keys", t * groups, group_dim * operand),
        Array("attention values", t * groups, group_dim * operand),
        Array("attention queries", a.attention_parallel * groups, group_dim * operand,
              impl="lutram"),
        Array("attention scores", a.attention_parallel * groups * t, f,
              design.attention_heads),
        Array("attention accumulators", a.attention_parallel * groups,
              group_dim * design.sum_widths.value, impl="lutram"),
        Array("attention outputs", a.attention_parallel * c.dim // feature_lanes,
              feature_lanes * f),
        # moe.cpp
        Array("moe sums", t * c.dim // block, block * design.operand_widths.moe_sum,
              impl="uram"),
        Array("moe probabilities", t, wide, c.experts),
        Array("moe queues", c.experts * t, 16),
        Array("moe gate", c.dim, wide, c.experts),
    ]
    if not c.moe_layers:
        found = [x for x in found if not x.name.startswith("moe")]
    return found


def multipliers(design: Design) -> dict[str, tuple[int, int]]:
    """Per site: (multipliers the generated loops instantiate, DSP48E2s each), at the
    operand widths the code casts them to: the MAC datapaths at their feature and weight
    widths, the approximations', LayerNorm's and the softmaxes' products at the bounds of
    the artifact's formats and the Newton steps at their work bits (``datapath_widths``;
    ``config.hpp``). Attention multiplies one head group at a time. Every linear layer, expert
    and the patch embedding run on one linear tile (``allocation ... limit=1``); a
    synthesis report that shows otherwise corrects this."""
    c, a, t = design.config, design.accelerator, design.tables
    feature, weight = design.feature_bits, design.weight_bits
    w = design.operand_widths
    lanes = design.feature_lanes
    segment = t.exp.frac_bits - t.exp.table_bits + 1
    heads = design.attention_heads  # side by side; the head groups take turns
    group_dim = heads * c.head_dim
    exps = 3 * heads + 1  # two per head in the softmax update, one in A x V, the gate's
    products: dict[str, tuple[int, int, int]] = {
        "linear tile": (a.tile_in * a.tile_out, feature, weight),
        "attention q.k": (group_dim, feature + 1, feature + 1),
        "attention p.v": (group_dim, feature + 1, feature + 1),
        "layer norm squares": (lanes, feature + 1, feature + 1),
        "gate": (c.experts, feature + 1, weight),
        "moe scatter": (design.feature_block, feature + 1, feature + 1),
        "exp log2(e) products": (exps, w.exp_input, t.exp.frac_bits + 2),
        "exp interpolations": (exps, t.exp.frac_bits + 2, segment),
        "softmax rescale": (heads, w.softmax_total, w.softmax_exp),
        "softmax normalize": (heads + 1, w.softmax_exp, w.softmax_inv_sum),
        # one Newton body each (its loop is sequential): reciprocal 2 products (attention's
        # row statistics, the gate), rsqrt 3 (LayerNorm)
        "reciprocal newton products": (2 * 2, w.reciprocal_operand, w.reciprocal_operand),
        "rsqrt newton products": (3, w.rsqrt_operand, w.rsqrt_operand),
        "layer norm statistics": (2, max(w.ln_total, w.ln_squares), w.ln_inv_dim),
        "layer norm mean squared": (1, w.ln_mean, w.ln_mean),
        "layer norm normalize": (lanes, w.ln_centered, w.ln_inv_std),
        "layer norm affine": (lanes, w.ln_normalized, w.ln_gamma),
        "gelu interpolations": (a.tile_out, t.gelu.frac_bits + 2, w.gelu_offset),
    }
    return {name: (count, dsp_per_multiplier(x, y)) for name, (count, x, y) in products.items()}


def approximation_units(design: Design) -> dict[str, int]:
    """Instances of each approximation, for their logic: exp per head side by side twice
    for the softmax updates and again for A x V, one for the gate; a GELU per output of the
    linear tile; the rest once per kernel that uses them."""
    return {"exp": 3 * design.attention_heads + 1, "reciprocal": 2, "rsqrt": 1,
            "gelu": design.accelerator.tile_out}


def resources(design: Design) -> Resources:
    macs = multipliers(design)
    units = approximation_units(design)
    dsp = sum(n * per for n, per in macs.values())
    lut, ff = INTERFACE_LOGIC
    count = sum(n for n, _ in macs.values())
    lut += count * MAC_LOGIC[0]
    ff += count * MAC_LOGIC[1]
    for name, instances in units.items():
        lut += instances * UNIT_LOGIC[name][0]
        ff += instances * UNIT_LOGIC[name][1]
    placed = tuple(arrays(design))
    lut += sum(array.lut for array in placed)
    return Resources(dsp, sum(array.bram36 for array in placed),
                     sum(array.uram for array in placed), lut, ff, placed)
