"""The cycle model's view of every labelled loop of the generated HLS: how it is
scheduled, its initiation interval and its largest trip count at a design point.

``tests/hls/test_model_follows_code.py`` parses a generated project (the lint's libclang
parse) and holds this table to it both ways: every label in the code is here with the
same scheduling, the II its pragma asks for (or the recurrence that makes it longer) and
the same trip count, and every loop here is in the code and costed by the model.

The latencies below are the model's estimate of what Vitis HLS schedules for the code's
real operand widths at 300 MHz: the products at the widths config.hpp narrows them to
(``DatapathWidths``, the Newton steps' included); a synthesis report (``edgemoe estimate
--csynth``) corrects them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..generator import MIN_MAC_ROWS

if TYPE_CHECKING:  # the table's functions take the cycle model's Design
    from .cycle_model import Design

#: Stages of a pipelined loop body (a multiply-accumulate, a requantize): its fill time.
PIPELINE_DEPTH = 8
#: A DSP48E2 multiplies 27x18 signed: 26x17 unsigned bits of each operand per tile.
DSP_A_BITS, DSP_B_BITS = 26, 17
#: Registers around a DSP product (A/B in, M, P): a 27x18 product's latency.
DSP_LATENCY = 3
#: A requantize: the shift, the rounding increment, the saturation compare and select.
REQUANTIZE_LATENCY = 2
#: A registered ROM read (the approximation tables).
TABLE_LATENCY = 2


def multiply_latency(a_bits: int, b_bits: int) -> int:
    """A product of the given widths on DSP48E2 tiles, partial products summed in a tree."""
    tiles = math.ceil(a_bits / DSP_A_BITS) * math.ceil(b_bits / DSP_B_BITS)
    return DSP_LATENCY + math.ceil(math.log2(tiles))


def leading_one_latency(wide_bits: int) -> int:
    """The priority encoder of ``bit_length``: log2(width) compare-and-shift steps, two
    to a cycle."""
    return math.ceil(math.log2(wide_bits) / 2)


def exp_latency(design: Design) -> int:
    """approx_exp: t = |x| log2(e), the table read, the interpolation product, the shift,
    the requantize (the products at the operand widths config.hpp gives them)."""
    w, t = design.operand_widths, design.tables.exp
    return (multiply_latency(w.exp_input, t.frac_bits + 2) + 1 + TABLE_LATENCY
            + multiply_latency(t.frac_bits + 2, t.frac_bits - t.table_bits + 1) + 1
            + REQUANTIZE_LATENCY)


def newton_latency(wide_bits: int, operand_bits: int, steps: int, products: int) -> int:
    """A Newton approximation: normalize (a leading-one search over wide_t), seed from the
    table, ``steps`` iterations of ``products`` dependent products (operands narrowed to
    ``operand_bits``) with their roundings, rescale and requantize."""
    step = products * (multiply_latency(operand_bits, operand_bits) + 1) + 1
    return (leading_one_latency(wide_bits) + 1 + TABLE_LATENCY + steps * step + 1
            + REQUANTIZE_LATENCY)


def reciprocal_latency(design: Design) -> int:
    return newton_latency(design.wide_bits, design.operand_widths.reciprocal_operand,
                          design.tables.reciprocal.newton_steps, 2)


def rsqrt_latency(design: Design) -> int:
    return newton_latency(design.wide_bits, design.operand_widths.rsqrt_operand,
                          design.tables.rsqrt.newton_steps, 3)


def softmax_update_latency(design: Design) -> int:
    """One running-softmax update, the recurrence of a row: compare with the peak, the
    difference requantized, exp, the sum rescaled (a product and its requantize), the add."""
    w = design.operand_widths
    return (1 + REQUANTIZE_LATENCY + exp_latency(design)
            + multiply_latency(w.softmax_total, w.softmax_exp) + REQUANTIZE_LATENCY + 1)


def statistics_latency(design: Design) -> int:
    """LayerNorm between its sweeps: mean and mean of squares (products by 1/DIM, side by
    side), the square of the mean, the variance and its eps, each requantized, in
    sequence."""
    w = design.operand_widths
    return (multiply_latency(max(w.ln_total, w.ln_squares), w.ln_inv_dim) + REQUANTIZE_LATENCY
            + multiply_latency(w.ln_mean, w.ln_mean) + REQUANTIZE_LATENCY + 1
            + REQUANTIZE_LATENCY)


# ------------------------------------------------------------------------ the loops
@dataclass(frozen=True)
class LoopModel:
    """One labelled loop: ``kind`` as scheduled ("pipelined", "unrolled", "sequential"),
    its largest trip count at a design (None where each call sets it: the template
    loaders, whose transfers the model counts per call), and for a pipelined loop the II
    the model charges, with the recurrence that makes it longer than the pragma's."""

    kind: str
    trip: Callable[[Design], int] | None
    ii: Callable[[Design], int] = lambda design: 1
    recurrence: str = ""
    debug_only: bool = False  # runs only when the debug tap is asked for


def key_step_ii(design: Design) -> int:
    """A (row, head)'s softmax state comes round every P x HEAD_GROUPS cycles: the update
    must be done by then."""
    latency = softmax_update_latency(design)
    return max(1, math.ceil(latency / (design.accelerator.attention_parallel
                                       * design.head_groups)))




def _token_blocks(d: Design) -> int:
    return d.config.dim // d.feature_lanes


P = "pipelined"
U = "unrolled"
S = "sequential"

LOOPS: dict[str, LoopModel] = {
    # memory.hpp
    "unpack_pieces": LoopModel(U, lambda d: d.accelerator.axi_bits // 64),
    "pack_pieces": LoopModel(U, lambda d: d.accelerator.axi_bits // 64),
    "word_to_lanes_lanes": LoopModel(U, None),
    "load_rows_words": LoopModel(P, None),
    "load_vector_words": LoopModel(P, None),
    "store_rows_words": LoopModel(P, None),
    "store_rows_lanes": LoopModel(U, lambda d: d.feature_lanes),
    # fixed_point.hpp
    "dot_product_terms": LoopModel(U, None),  # TILE_IN in the linear unit, HEAD_DIM in q.k
    "bit_length_halve": LoopModel(U, None),
    "reciprocal_newton": LoopModel(S, lambda d: d.tables.reciprocal.newton_steps),
    "rsqrt_newton": LoopModel(S, lambda d: d.tables.rsqrt.newton_steps),
    # linear.cpp
    "stream_strips_strips": LoopModel(
        S, lambda d: (d.max_outputs // d.accelerator.tile_out + 1) // 2),
    "stream_strips_words": LoopModel(
        P, lambda d: d.accelerator.tile_out * d.max_inputs // d.weight_lanes),
    "multiply_strips_first": LoopModel(
        P, lambda d: d.accelerator.tile_out * d.max_inputs // d.weight_lanes),
    "multiply_strips_strips": LoopModel(S, lambda d: d.max_outputs // d.accelerator.tile_out),
    "multiply_strips_steps": LoopModel(
        P, lambda d: d.max_inputs // d.accelerator.tile_in
        * max(d.config.tokens, MIN_MAC_ROWS)),
    "multiply_strips_outputs": LoopModel(U, lambda d: d.accelerator.tile_out),
    "multiply_strips_finish": LoopModel(P, lambda d: d.config.tokens),
    "multiply_strips_finish_outputs": LoopModel(U, lambda d: d.accelerator.tile_out),
    # attention.cpp
    "attention_blocks": LoopModel(
        S, lambda d: math.ceil(d.config.tokens / d.accelerator.attention_parallel)),
    "attention_key_steps": LoopModel(
        P, lambda d: d.config.tokens * d.accelerator.attention_parallel * d.head_groups,
        key_step_ii,
        "a row's softmax update (compare, exp, rescale, add) before its next key"),
    "attention_key_heads": LoopModel(U, lambda d: d.attention_heads),
    "attention_row_stats": LoopModel(S, lambda d: d.accelerator.attention_parallel),
    "attention_row_stats_groups": LoopModel(S, lambda d: d.head_groups),
    "attention_row_stats_heads": LoopModel(S, lambda d: d.attention_heads),
    "attention_values": LoopModel(P, lambda d: d.config.tokens
                                  * d.accelerator.attention_parallel * d.head_groups),
    "attention_value_heads": LoopModel(U, lambda d: d.attention_heads),
    "attention_value_dims": LoopModel(U, lambda d: d.config.head_dim),
    "attention_round": LoopModel(S, lambda d: d.accelerator.attention_parallel),
    "attention_round_blocks": LoopModel(P, _token_blocks),
    "attention_round_lanes": LoopModel(U, lambda d: d.feature_lanes),
    "attention_debug_rows": LoopModel(S, lambda d: d.accelerator.attention_parallel,
                                      debug_only=True),
    "attention_debug_groups": LoopModel(S, lambda d: d.head_groups, debug_only=True),
    "attention_debug_scores": LoopModel(S, lambda d: d.attention_heads, debug_only=True),
    "attention_debug_keys": LoopModel(S, lambda d: d.config.tokens, debug_only=True),
    # layer_norm.cpp
    "layer_norm_tokens": LoopModel(S, lambda d: d.config.tokens),
    "layer_norm_sums": LoopModel(P, _token_blocks),
    "layer_norm_sums_lanes": LoopModel(U, lambda d: d.feature_lanes),
    "layer_norm_normalize": LoopModel(P, _token_blocks),
    "layer_norm_normalize_lanes": LoopModel(U, lambda d: d.feature_lanes),
    # moe.cpp
    "gate_clear": LoopModel(U, lambda d: d.config.experts),
    "gate_dots": LoopModel(P, lambda d: d.config.dim),
    "gate_dot_experts": LoopModel(U, lambda d: d.config.experts),
    "gate_logits": LoopModel(P, lambda d: d.config.experts),
    "gate_keep_all": LoopModel(U, lambda d: d.config.experts),
    "gate_keep_chosen": LoopModel(U, lambda d: d.config.top_k),
    "gate_exp": LoopModel(P, lambda d: d.config.experts),
    "gate_normalize": LoopModel(P, lambda d: d.config.experts),
    "top_k_experts": LoopModel(P, lambda d: d.config.experts),
    "top_k_compare": LoopModel(U, lambda d: d.config.experts),
    "run_expert_gather": LoopModel(
        P, lambda d: d.config.tokens * d.config.dim // d.accelerator.tile_in),
    "run_expert_gather_lanes": LoopModel(U, lambda d: d.accelerator.tile_in),
    "run_expert_scatter": LoopModel(
        P, lambda d: d.config.tokens * d.config.dim // d.feature_block),
    "run_expert_scatter_lanes": LoopModel(U, lambda d: d.feature_block),
    "moe_residual": LoopModel(S, lambda d: d.config.tokens),
    "moe_residual_blocks": LoopModel(P, _token_blocks),
    "moe_residual_lanes": LoopModel(U, lambda d: d.feature_lanes),
    "moe_clear_queues": LoopModel(S, lambda d: d.config.experts),
    "moe_route": LoopModel(S, lambda d: d.config.tokens),
    "moe_enqueue": LoopModel(S, lambda d: d.config.top_k),
    "moe_debug_probs": LoopModel(S, lambda d: d.config.experts, debug_only=True),
    "moe_experts": LoopModel(S, lambda d: d.config.experts),
    "moe_round": LoopModel(S, lambda d: d.config.tokens),
    "moe_round_blocks": LoopModel(P, _token_blocks),
    "moe_round_lanes": LoopModel(U, lambda d: d.feature_lanes),
    # patch_embed.cpp
    "patch_embed_image": LoopModel(
        P, lambda d: d.config.image_height * d.config.image_width * 3 * 8
        // d.accelerator.axi_bits),
    "patch_embed_gather": LoopModel(
        P, lambda d: d.config.patches * 3 * d.config.patch * d.config.patch),
    "patch_embed_class_token": LoopModel(P, lambda d: d.config.dim),
    # top.cpp
    "top_images": LoopModel(S, lambda d: 1),
    "top_layers": LoopModel(S, lambda d: d.config.layers),
    "top_copy_tokens": LoopModel(P, lambda d: d.config.tokens * d.config.dim
                                 // d.feature_lanes),
}
