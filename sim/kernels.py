"""The accelerator's kernels in fixed point, one function each, vectorized with numpy.

Each follows the hardware's dataflow: products and sums are exact (``fx_matmul`` and
``FixedArray`` arithmetic never lose a bit) and a result is cast once to its format; where
the order changes bits (the single-pass softmax), the order is the hardware's. Formats of
weights travel with the weights; formats of results and internals come in a spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .approx import ExpSpec, GeluSpec, ReciprocalSpec, RsqrtSpec
from .fixed_array import FixedArray, quantize
from .fixed_format import FixedFormat
from .fx_matmul import fx_matmul, fx_matmul_grouped, fx_matmul_wide
from .wide_fixed import WideFixed, exact_product_cast


def _broadcast(x: FixedArray, shape: tuple[int, ...]) -> FixedArray:
    return FixedArray._trusted(np.broadcast_to(x.raw, shape), x.fmt)


# --------------------------------------------------------------------------- patch embedding
def patchify(pixels: FixedArray, patch: int) -> FixedArray:
    """(..., 3, H, W) pixels to (..., patches, 3 * patch * patch) rows, patches in raster
    order and each row in the conv weight's (channel, y, x) order."""
    *images, channels, height, width = pixels.shape
    rows, cols = height // patch, width // patch
    raw = pixels.raw.reshape(-1, channels, rows, patch, cols, patch)
    raw = raw.transpose(0, 2, 4, 1, 3, 5).reshape(*images, rows * cols,
                                                   channels * patch * patch)
    return FixedArray._trusted(raw, pixels.fmt)


def patch_embed(pixels: FixedArray, weight: FixedArray, bias: FixedArray,
                position: FixedArray, patch: int, out_fmt: FixedFormat) -> FixedArray:
    """Tokens (..., patches + 1, dim) of (..., 3, H, W) pixels: row 0 is the CLS token,
    ``position[0]`` (CLS plus its position, combined at export); row i is patch i's linear
    map plus bias plus position."""
    patches = patchify(pixels, patch)
    *images, count, length = patches.shape
    rows = patches.reshape(-1, length)
    embedded = fx_matmul(rows, weight.T) + _broadcast(bias, (rows.shape[0], weight.shape[0]))
    embedded_raw = embedded.raw.reshape(-1, count, weight.shape[0])
    cls = np.zeros((embedded_raw.shape[0], 1, weight.shape[0]), embedded_raw.dtype)
    stacked = np.concatenate([cls, embedded_raw], axis=1).reshape(*images, count + 1, -1)
    return (FixedArray._trusted(stacked, embedded.fmt) + position).cast(out_fmt)


# --------------------------------------------------------------------------- layer norm
@dataclass(frozen=True)
class LayerNormSpec:
    """One pass over a token: the sum and the sum of squares, exact; mean and variance
    from them, 1/sqrt(var + eps) by ``rsqrt`` (its input format is the variance's)."""

    mean_fmt: FixedFormat
    rsqrt: RsqrtSpec
    normalized_fmt: FixedFormat
    out_fmt: FixedFormat
    eps: float = 1e-6
    inv_dim_bits: int = 24  # fraction bits of the constant 1/dim

    @property
    def var_fmt(self) -> FixedFormat:
        return self.rsqrt.input_fmt


@lru_cache(maxsize=256)
def _layer_norm_constants(spec: LayerNormSpec, dim: int) -> tuple[FixedArray, FixedArray]:
    """1/dim and epsilon as the hardware holds them."""
    inv_dim = FixedArray(np.array(round(2**spec.inv_dim_bits / dim)),
                         FixedFormat(spec.inv_dim_bits + 1, 1, signed=False))
    return inv_dim.frozen(), FixedArray.from_float(spec.eps, spec.var_fmt).frozen()


def layer_norm(x: FixedArray, gamma: FixedArray, beta: FixedArray,
               spec: LayerNormSpec) -> FixedArray:
    """Over the last axis of (tokens, dim) rows."""
    tokens, dim = x.shape
    inv_dim, eps = _layer_norm_constants(spec, dim)
    total = WideFixed.of(x).sum(axis=1)
    squares = (WideFixed.of(x) * WideFixed.of(x)).sum(axis=1)
    mean = (total * inv_dim).cast(spec.mean_fmt)
    mean_of_squares = (squares * inv_dim).cast(spec.var_fmt)
    variance = mean_of_squares - exact_product_cast(mean, mean, spec.var_fmt)
    variance = FixedArray._trusted(np.maximum(variance.raw, 0), variance.fmt) + eps
    inv_std = spec.rsqrt(variance.cast(spec.var_fmt))
    centered = x - FixedArray._trusted(mean.raw[:, None], mean.fmt)
    normalized = exact_product_cast(centered, FixedArray._trusted(inv_std.raw[:, None],
                                                                  inv_std.fmt),
                                    spec.normalized_fmt)
    scaled = normalized * _broadcast(gamma, (tokens, dim)) + _broadcast(beta, (tokens, dim))
    return scaled.cast(spec.out_fmt)


# --------------------------------------------------------------------------- linear unit
def linear(x: FixedArray, weight: FixedArray, bias: FixedArray | None, out_fmt: FixedFormat,
           *, residual: FixedArray | None = None, gelu: GeluSpec | None = None) -> FixedArray:
    """The unified linear unit: x W^T + b (+ residual), accumulated exactly and cast once
    to ``out_fmt``; with ``gelu``, cast to the GELU's input format and passed through it
    (then ``out_fmt`` must be the GELU's output format)."""
    acc = fx_matmul_wide(x, weight.T)
    for term in (bias, residual):
        if term is not None:
            acc = acc + term
    if gelu is None:
        return acc.cast(out_fmt)
    if gelu.output_fmt != out_fmt:
        raise ValueError(f"fused GELU outputs {gelu.output_fmt}, the layer expects {out_fmt}")
    return gelu(acc.cast(gelu.input_fmt))


# --------------------------------------------------------------------------- attention
@dataclass(frozen=True)
class SoftmaxSpec:
    """exp of (score - max), a running sum, its reciprocal, and the probability format.
    ``exp.input_fmt`` is where score differences are cast (saturating: far below the max,
    exp is 0 anyway)."""

    exp: ExpSpec
    sum_fmt: FixedFormat
    reciprocal: ReciprocalSpec  # sum_fmt -> 1/sum
    prob_fmt: FixedFormat

    def difference(self, lower: FixedArray, upper: FixedArray) -> FixedArray:
        """``lower - upper`` (<= 0) cast to the exp's input format."""
        return (lower - upper).cast(self.exp.input_fmt)


def key_order(tokens: int, parallel: int) -> np.ndarray:
    """(tokens, tokens): the keys query row r visits, in order (the definition
    ``single_pass_softmax`` follows, with slices). The rows are processed ``parallel`` at a
    time; row b*P + o starts at key o and wraps, so the P rows of a block read P different
    keys each cycle and K/V stream once per block."""
    offsets = np.arange(tokens) % parallel
    return (offsets[:, None] + np.arange(tokens)[None, :]) % tokens


def single_pass_softmax(scores: FixedArray, parallel: int, spec: SoftmaxSpec,
                        ) -> tuple[FixedArray, FixedArray]:
    """Running max and sum of exp over each row's keys, in the reordered key order.

    A new maximum rescales the sum: sum <- round(sum * exp(old - new)) + 1. Between new
    maxima the sum only adds exp terms, exactly, so it is computed segment by segment:
    the loop runs once per new maximum (a handful), not once per key. Returns the max and
    1/sum per (..., head, row) of (..., head, row, key) scores, as the hardware stores them
    for A x V.
    """
    *stacks, rows, keys = scores.shape
    raw = scores.raw.reshape(-1, rows, keys)
    heads = raw.shape[0]
    fmt, sum_fmt = scores.fmt, spec.sum_fmt
    visited = np.empty_like(raw)  # row r visits its keys from r % parallel on, wrapping
    for offset in range(min(parallel, rows)):
        visited[:, offset::parallel, :keys - offset] = raw[:, offset::parallel, offset:]
        visited[:, offset::parallel, keys - offset:] = raw[:, offset::parallel, :offset]
    running = np.maximum.accumulate(visited, axis=2)
    terms = spec.exp(spec.difference(FixedArray._trusted(visited, fmt),
                                     FixedArray._trusted(running, fmt)))
    terms_raw = quantize(terms.raw, terms.fmt, sum_fmt)  # exact: sum_fmt holds every bit
    # segments: the keys seen under one maximum, each summed exactly in one pass
    new_max = np.empty(visited.shape, dtype=bool)
    new_max[..., 0] = True
    np.greater(running[..., 1:], running[..., :-1], out=new_max[..., 1:])
    starts = np.flatnonzero(new_max)  # every row's first segment starts at its first key
    firsts = np.flatnonzero(starts % keys == 0)  # each row's first segment among starts
    counts = np.diff(np.append(firsts, len(starts)))
    count = int(counts.max())
    which = (starts // keys, np.arange(len(starts)) - np.repeat(firsts, counts))
    sums = np.zeros((heads * rows, count), dtype=np.int64)
    maxima = np.zeros((heads * rows, count), dtype=visited.dtype)
    sums[which] = np.add.reduceat(terms_raw.reshape(-1), starts)
    maxima[which] = visited.reshape(-1)[starts]
    # step s rescales by exp(max before s - max of s); rows with fewer segments stay put
    present = np.arange(1, count) < counts[:, None]
    newer = np.where(present, maxima[..., 1:], maxima[..., :-1])
    factors = spec.exp(spec.difference(FixedArray._trusted(maxima[..., :-1], fmt),
                                       FixedArray._trusted(newer, fmt)))
    total = sums[..., 0]
    for step in range(1, count):
        rescaled = exact_product_cast(FixedArray._trusted(total, sum_fmt),
                                      factors[..., step - 1], sum_fmt).raw
        total = np.where(present[..., step - 1], rescaled + sums[..., step], total)
    peak = FixedArray._trusted(running[..., -1].reshape(*stacks, rows), fmt)
    return peak, spec.reciprocal(FixedArray._trusted(total.reshape(*stacks, rows), sum_fmt))


def softmax_update(peak: FixedArray, total: FixedArray, score: FixedArray,
                   first: np.ndarray, spec: SoftmaxSpec) -> tuple[FixedArray, FixedArray]:
    """One key of ``single_pass_softmax``, as the hardware's update unit does it: the state
    (running max ``peak``, sum ``total`` in ``spec.sum_fmt``) after ``score``; ``first``
    starts a row. A new maximum rescales the sum by exp(old - new) and adds exp(0); any
    other score adds exp(score - max). Folding this over a row's keys in ``key_order``
    gives ``single_pass_softmax``'s max and sum (the sum before its reciprocal)."""
    fmt, sums = score.fmt, spec.sum_fmt
    first = np.asarray(first, dtype=bool)
    greater = first | (score.raw > peak.raw)
    upper = np.where(greater, score.raw, peak.raw)
    lower = np.where(first | ~greater, score.raw, peak.raw)
    e = spec.exp(spec.difference(FixedArray._trusted(lower, fmt), FixedArray._trusted(upper, fmt)))
    term = quantize(e.raw, e.fmt, sums)
    zero = spec.exp(FixedArray._trusted(np.zeros(1, dtype=np.int64), spec.exp.input_fmt))
    term_zero = quantize(zero.raw, zero.fmt, sums)
    rescaled = exact_product_cast(FixedArray._trusted(total.raw, sums), e, sums).raw
    new_total = np.where(first, term, np.where(greater, rescaled + term_zero, total.raw + term))
    return FixedArray._trusted(upper, fmt), FixedArray._trusted(new_total, sums)


def split_heads(x: FixedArray, heads: int) -> FixedArray:
    """(..., tokens, dim) to (..., heads, tokens, head_dim): head h owns columns h*d to
    (h+1)*d."""
    *images, tokens, dim = x.shape
    raw = x.raw.reshape(*images, tokens, heads, dim // heads)
    return FixedArray._trusted(np.moveaxis(raw, -2, -3), x.fmt)


def merge_heads(x: FixedArray) -> FixedArray:
    """(..., heads, tokens, head_dim) back to (..., tokens, dim)."""
    *images, heads, tokens, width = x.shape
    raw = np.moveaxis(x.raw, -3, -2).reshape(*images, tokens, heads * width)
    return FixedArray._trusted(raw, x.fmt)


def attention_scores(q: FixedArray, k: FixedArray, heads: int,
                     out_fmt: FixedFormat) -> FixedArray:
    """(..., heads, tokens, tokens) q_h k_h^T per head of (..., tokens, dim) queries and
    keys (1/sqrt(d) is folded into q's weights)."""
    keys = split_heads(k, heads)
    return fx_matmul_wide(split_heads(q, heads), FixedArray._trusted(
        np.swapaxes(keys.raw, -1, -2), k.fmt)).cast(out_fmt)


def attention_probabilities(scores: FixedArray, peak: FixedArray, inv_sum: FixedArray,
                            spec: SoftmaxSpec) -> FixedArray:
    """p = exp(s - max) * (1/sum) per (head, row, key), in the probability format."""
    exps = spec.exp(spec.difference(scores, FixedArray._trusted(peak.raw[..., None],
                                                                peak.fmt)))
    scale = FixedArray._trusted(inv_sum.raw[..., None], inv_sum.fmt)
    return exact_product_cast(exps, scale, spec.prob_fmt)


def attention_output(scores: FixedArray, peak: FixedArray, inv_sum: FixedArray,
                     v: FixedArray, spec: SoftmaxSpec, out_fmt: FixedFormat) -> FixedArray:
    """Softmax-normalized A x V: the probabilities times V exactly per head, cast once;
    heads concatenated to (tokens, dim). Normalization happens here, inside the product."""
    probs = attention_probabilities(scores, peak, inv_sum, spec)
    return merge_heads(fx_matmul_wide(probs, split_heads(v, scores.shape[-3])).cast(out_fmt))


# --------------------------------------------------------------------------- mixture of experts
def route_tokens(x: FixedArray, gate: FixedArray, logits_fmt: FixedFormat, spec: SoftmaxSpec,
                 top_k: int, renormalize: bool) -> tuple[FixedArray, np.ndarray]:
    """The gate's weights (tokens, experts) and each token's ``top_k`` experts (best first).

    A softmax over all experts (max, exp, exact sum, 1/sum) whose top-k are kept; or,
    with ``renormalize``, the top-k of the logits first and the softmax over those k only
    (the exps of the others are left out of the sum and their weights are 0)."""
    logits = fx_matmul(x, gate.T).cast(logits_fmt)
    peak = FixedArray._trusted(logits.raw.max(axis=1, keepdims=True), logits_fmt)
    exps = spec.exp(spec.difference(logits, peak))
    if renormalize:
        chosen = top_k_experts(logits, top_k)
        kept = np.zeros(exps.shape, dtype=bool)
        np.put_along_axis(kept, chosen, True, axis=1)
        exps = FixedArray._trusted(np.where(kept, exps.raw, 0), exps.fmt)
    total = WideFixed.of(exps).sum(axis=1).cast(spec.sum_fmt)
    inv = spec.reciprocal(total)
    probs = exact_product_cast(exps, FixedArray._trusted(inv.raw[:, None], inv.fmt),
                               spec.prob_fmt)
    return probs, (chosen if renormalize else top_k_experts(probs, top_k))


def top_k_experts(scores: FixedArray, k: int) -> np.ndarray:
    """(tokens, k) expert ids, highest score first, ties to the lower expert index."""
    raw = scores.raw
    experts = raw.shape[1]
    index = np.arange(experts)
    beats = (raw[:, None, :] > raw[:, :, None]) | ((raw[:, None, :] == raw[:, :, None])
                                                   & (index[None, None, :] < index[None, :, None]))
    ranks = beats.sum(axis=2)  # (tokens, experts): 0 = best
    return np.argsort(ranks, axis=1, kind="stable")[:, :k]


def expert_queues(chosen: np.ndarray, experts: int) -> list[np.ndarray]:
    """Per expert, the tokens that chose it, in token order (the patch reordering)."""
    tokens = np.repeat(np.arange(chosen.shape[0]), chosen.shape[1])
    ids = chosen.reshape(-1)
    order = np.argsort(ids, kind="stable")
    bounds = np.searchsorted(ids[order], np.arange(experts + 1))
    return [tokens[order[bounds[e]:bounds[e + 1]]] for e in range(experts)]


@dataclass(frozen=True)
class ExpertWeights:
    """Per expert: fc1 weight (hidden, dim), fc2 weight (dim, hidden); the biases stacked,
    (experts, hidden) and (experts, dim)."""

    fc1_weight: list[FixedArray]
    fc1_bias: FixedArray
    fc2_weight: list[FixedArray]
    fc2_bias: FixedArray

    @classmethod
    def from_stacked(cls, fc1_weight: FixedArray, fc1_bias: FixedArray,
                     fc2_weight: FixedArray, fc2_bias: FixedArray) -> ExpertWeights:
        """Split (experts, ...) weights; frozen ones give frozen experts (kept float slices)."""

        def split(x: FixedArray) -> list[FixedArray]:
            parts = [FixedArray._trusted(x.raw[e], x.fmt) for e in range(x.shape[0])]
            return [p.frozen() for p in parts] if x.memo() is not None else parts

        return cls(split(fc1_weight), fc1_bias, split(fc2_weight), fc2_bias)


def moe(x: FixedArray, residual: FixedArray, probs: FixedArray, chosen: np.ndarray,
        experts: ExpertWeights, gelu: GeluSpec, expert_out_fmt: FixedFormat,
        out_fmt: FixedFormat) -> tuple[FixedArray, list[np.ndarray]]:
    """Each active expert runs once over its queue (gather), its outputs scaled by the
    gate probability accumulate exactly into the tokens' rows (scatter), plus the
    residual, cast once. Returns the block output and the queues."""
    queues = expert_queues(chosen, probs.shape[1])
    tokens, top_k = chosen.shape
    order = np.concatenate(queues)  # the gathered rows, expert after expert
    bounds = np.cumsum([0] + [len(queue) for queue in queues])
    owner = np.repeat(np.arange(len(queues)), np.diff(bounds))
    fc1 = fx_matmul_grouped(x[order], [w.T for w in experts.fc1_weight], bounds)
    fc1_bias = FixedArray._trusted(experts.fc1_bias.raw[owner], experts.fc1_bias.fmt)
    hidden = gelu((fc1 + fc1_bias).cast(gelu.input_fmt))
    fc2 = fx_matmul_grouped(hidden, [w.T for w in experts.fc2_weight], bounds)
    fc2_bias = FixedArray._trusted(experts.fc2_bias.raw[owner], experts.fc2_bias.fmt)
    out = (fc2 + fc2_bias).cast(expert_out_fmt)
    outputs = np.zeros((tokens, top_k, x.shape[1]), np.int64)  # by each token's k-th choice
    outputs[order, np.argmax(chosen[order] == owner[:, None], axis=1)] = out.raw
    scores = FixedArray._trusted(np.take_along_axis(probs.raw, chosen, axis=1)[..., None],
                                 probs.fmt)
    weighted = WideFixed.of(scores) * WideFixed.of(FixedArray._trusted(outputs, expert_out_fmt))
    return (weighted.sum(axis=1) + residual).cast(out_fmt), queues
