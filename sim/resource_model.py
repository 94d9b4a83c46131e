"""Resources of the generated accelerator against the ZCU104's xczu7ev.

DSPs come from the multipliers the generated loops instantiate (unrolled MACs, one per
pipelined MAC loop) and their operand widths: a DSP48E2 multiplies 27 x 18 bits signed, so a
16 x 16 product takes one and wider operands take more. Block RAM and UltraRAM come from
every on-chip array's size and partitioning (an array partitioned into n banks needs n
memories at least; small banks go to LUTs). LUT and FF are rough: a per-MAC and per-unit
cost plus the AXI interfaces, with the yosys figures of the RTL units where they exist.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .cycle_model import Design

ZCU104 = {"dsp": 1728, "bram36": 312, "uram": 96, "lut": 230_400, "ff": 460_800}
BRAM36_BITS = 36 * 1024
URAM_BITS = 288 * 1024
LUTRAM_LIMIT_BITS = 1024  # banks this small are built from LUTs
#: Rough per-unit logic (yosys synth_xilinx of the RTL units, int16 formats).
UNIT_LOGIC = {"gelu": (106, 110), "exp": (147, 142), "reciprocal": (393, 206),
              "rsqrt": (388, 228)}
MAC_LOGIC = (40, 60)  # LUT, FF per multiplier: operand registers and its share of the adders
INTERFACE_LOGIC = (9_000, 12_000)  # AXI4-Lite control, three m_axi adapters, control FSMs


def dsp_per_multiplier(a_bits: int, b_bits: int) -> int:
    """DSP48E2s for an a x b signed product (27 x 18 per DSP), the cheaper orientation."""
    def count(x: int, y: int) -> int:
        return math.ceil(x / 27) * math.ceil(y / 18)
    return min(count(a_bits, b_bits), count(b_bits, a_bits))


@dataclass(frozen=True)
class Array:
    name: str
    elements: int
    bits: int
    banks: int = 1  # partitions that must be read in the same cycle
    copies: int = 1  # ping/pong or per-buffer instances


def bram36_for(array: Array) -> float:
    """BRAM36 equivalents: each bank in whole BRAM18s (18 Kb: 1K x 18, 2K x 9, 512 x 36 ...)
    as wide and as deep as it needs; banks of at most ``LUTRAM_LIMIT_BITS`` are LUTs."""
    depth = math.ceil(array.elements / array.banks)
    if depth * array.bits <= LUTRAM_LIMIT_BITS:
        return 0.0
    halves = max(math.ceil(array.bits / 18) * math.ceil(depth / 1024),
                 math.ceil(depth * array.bits / (BRAM36_BITS // 2)))
    return halves / 2 * array.banks * array.copies


def uram_for(array: Array) -> int:
    depth = math.ceil(array.elements / array.banks)
    return math.ceil(array.bits / 72) * math.ceil(depth / 4096) * array.banks * array.copies


@dataclass(frozen=True)
class Resources:
    dsp: int
    bram36: float
    uram: int
    lut: int
    ff: int
    arrays: tuple[tuple[str, float, int], ...]  # name, BRAM36, URAM

    def fits(self, budget: dict[str, float] = ZCU104) -> bool:
        return all(getattr(self, k) <= v for k, v in budget.items())

    def utilization(self, budget: dict[str, float] = ZCU104) -> dict[str, float]:
        return {k: getattr(self, k) / v for k, v in budget.items()}


def arrays(design: Design) -> list[Array]:
    """The generated kernels' on-chip arrays (see hls/templates/project)."""
    c, a = design.config, design.accelerator
    wide = 64  # wide_t: exact sums and values between units
    max_inputs = max(c.mlp_hidden, c.dim, 3 * c.patch * c.patch)
    max_hidden = max_inputs
    layer_weights = c.dim * max_inputs
    mac_banks = a.tile_in * a.tile_out
    return [
        Array("linear weights", layer_weights, design.weight_bits, mac_banks),
        Array("expert weights fc1/fc2 ping/pong", layer_weights, design.weight_bits,
              mac_banks, copies=4 if c.moe_layers else 0),
        Array("attention keys, values", c.tokens * c.dim, design.feature_bits + 1, c.head_dim,
              copies=2),
        Array("attention queries", a.attention_parallel * c.dim, wide, c.head_dim),
        Array("attention scores", a.attention_parallel * c.heads * c.tokens, wide),
        Array("attention accumulators", a.attention_parallel * c.dim, wide, c.head_dim),
        Array("patch embedding weights", layer_weights, design.weight_bits, mac_banks),
        Array("positions", c.tokens * c.dim, wide),
        Array("moe rows and sums", 3 * c.tokens * c.dim, wide),
        Array("row streams", 3 * max_hidden, wide),
    ]


def multipliers(design: Design) -> dict[str, tuple[int, int]]:
    """Per kernel: (multipliers the generated loops instantiate, DSP48E2s each). Every
    linear layer, expert and the patch embedding run on one linear tile (the unified
    unit); a synthesis report that shows more instances corrects this."""
    c, a = design.config, design.accelerator
    feature, weight = design.feature_bits, design.weight_bits
    return {
        "linear tile": (a.tile_in * a.tile_out, dsp_per_multiplier(feature, weight)),
        "attention q.k": (c.head_dim, dsp_per_multiplier(feature + 1, feature + 1)),
        "attention p.v": (c.head_dim, dsp_per_multiplier(feature + 1, feature + 1)),
        "layer norm": (2, dsp_per_multiplier(2 * feature, feature)),
        "gate": (c.experts, dsp_per_multiplier(feature + 1, weight)),
    }


def approximation_units(design: Design) -> dict[str, int]:
    """Instances of each approximation: exp for the softmax updates, for A x V and for the
    gate; the rest once."""
    return {"exp": 3, "reciprocal": 2, "rsqrt": 1, "gelu": 1}


UNIT_DSPS = {"exp": 2, "reciprocal": 4, "rsqrt": 6, "gelu": 1}  # yosys, int16 formats


def resources(design: Design) -> Resources:
    macs = multipliers(design)
    units = approximation_units(design)
    dsp = sum(n * per for n, per in macs.values())
    dsp += sum(count * UNIT_DSPS[name] for name, count in units.items())
    lut, ff = INTERFACE_LOGIC
    count = sum(n for n, _ in macs.values())
    lut += count * MAC_LOGIC[0]
    ff += count * MAC_LOGIC[1]
    for name, instances in units.items():
        lut += instances * UNIT_LOGIC[name][0]
        ff += instances * UNIT_LOGIC[name][1]
    placed, bram, uram = [], 0.0, 0
    for array in arrays(design):
        if array.copies == 0:
            continue
        blocks = bram36_for(array)
        # the largest buffers go to UltraRAM when that takes fewer blocks of room: one
        # 4K x 72 URAM holds eight BRAM36s' worth if its banks are deep enough to fill it
        if blocks >= 16 and uram_for(array) * 8 <= blocks * 1.5:
            placed.append((array.name, 0.0, uram_for(array)))
            uram += uram_for(array)
        else:
            placed.append((array.name, blocks, 0))
            bram += blocks
    return Resources(dsp, bram, uram, lut, ff, tuple(placed))
