"""Kernels against literal loop nests in raw integers (identical results) and against
float math (within stated bounds)."""

from __future__ import annotations

import numpy as np
import pytest

from edgemoe.sim import FixedArray, FixedFormat
from edgemoe.sim.approx import ExpSpec, GeluSpec, ReciprocalSpec, RsqrtSpec
from edgemoe.sim.kernels import (
    ExpertWeights,
    LayerNormSpec,
    SoftmaxSpec,
    attention_output,
    attention_scores,
    expert_queues,
    key_order,
    layer_norm,
    linear,
    moe,
    patch_embed,
    route_tokens,
    single_pass_softmax,
    top_k_experts,
)

F = FixedFormat
RNG = np.random.default_rng(7)
ACT = F(16, 5, True, "RND", "SAT")
WEIGHT = F(16, 2, True, "RND", "SAT")
SCORES = F(16, 6, True, "RND", "SAT")
SOFTMAX = SoftmaxSpec(
    exp=ExpSpec(F(16, 7, True, "RND", "SAT"), F(16, 1, False, "RND", "SAT")),
    sum_fmt=F(24, 9, False, "RND", "SAT"),
    reciprocal=ReciprocalSpec(F(24, 9, False, "RND", "SAT"), F(24, 1, False, "RND", "SAT")),
    prob_fmt=F(16, 1, False, "RND", "SAT"))


def fixed(values: np.ndarray, fmt: FixedFormat) -> FixedArray:
    return FixedArray.from_float(np.asarray(values, dtype=np.float64), fmt)


def one(raw: int, fmt: FixedFormat) -> FixedArray:
    return FixedArray(np.array([raw]), fmt)


# ------------------------------------------------------------------------ reordered attention
@pytest.mark.parametrize("tokens", [5, 33, 129])
@pytest.mark.parametrize("parallel", [1, 2, 4, 8])
def test_reordered_attention_visits_every_pair_once(tokens: int, parallel: int) -> None:
    order = key_order(tokens, parallel)
    for row in range(tokens):
        assert sorted(order[row]) == list(range(tokens))
        assert order[row][0] == row % parallel  # row bP + o starts at key o
    # each block of P rows reads P different keys every cycle: constant bandwidth
    for block in range(0, tokens - parallel + 1, parallel):
        for step in range(tokens):
            assert len(set(order[block:block + parallel, step])) == parallel


def naive_single_pass_softmax(scores: np.ndarray, parallel: int, fmt: FixedFormat,
                              spec: SoftmaxSpec) -> tuple[np.ndarray, np.ndarray]:
    """The hardware loop nest: blocks of P rows, each row from its own first key."""
    heads, rows, keys = scores.shape
    peak = np.zeros((heads, rows), np.int64)
    inv = np.zeros((heads, rows), np.int64)
    for head in range(heads):
        for block in range(0, rows, parallel):
            for row in range(block, min(block + parallel, rows)):
                first = row - block
                largest = int(scores[head, row, first])
                total = one(1 << spec.sum_fmt.frac_bits, spec.sum_fmt)  # exp(0) = 1
                for step in range(1, keys):
                    score = int(scores[head, row, (first + step) % keys])
                    if score > largest:
                        factor = spec.exp(spec.difference(one(largest, fmt), one(score, fmt)))
                        total = (total * factor).cast(spec.sum_fmt)
                        total = (total + one(1 << spec.sum_fmt.frac_bits, spec.sum_fmt))
                        total = total.cast(spec.sum_fmt)
                        largest = score
                    else:
                        term = spec.exp(spec.difference(one(score, fmt), one(largest, fmt)))
                        total = (total + term).cast(spec.sum_fmt)
                peak[head, row] = largest
                inv[head, row] = int(spec.reciprocal(total).raw[0])
    return peak, inv


@pytest.mark.parametrize(("tokens", "parallel"), [(5, 2), (33, 4), (17, 8), (9, 1)])
def test_single_pass_softmax_equals_the_loop_nest(tokens: int, parallel: int) -> None:
    scores = fixed(RNG.normal(0, 3, (2, tokens, tokens)), SCORES)
    peak, inv = single_pass_softmax(scores, parallel, SOFTMAX)
    expected_peak, expected_inv = naive_single_pass_softmax(scores.raw, parallel, SCORES,
                                                            SOFTMAX)
    assert peak.raw.tolist() == expected_peak.tolist()
    assert inv.raw.tolist() == expected_inv.tolist()


def test_key_order_changes_bits_but_not_much() -> None:
    """Different P visit keys in different orders: rounding may differ, values barely."""
    scores = fixed(RNG.normal(0, 3, (3, 33, 33)), SCORES)
    _, inv_1 = single_pass_softmax(scores, 1, SOFTMAX)
    _, inv_4 = single_pass_softmax(scores, 4, SOFTMAX)
    assert np.max(np.abs(inv_1.to_float() - inv_4.to_float()) / inv_1.to_float()) < 2**-10


def test_softmax_probabilities_within_2_to_the_minus_10() -> None:
    scores = fixed(RNG.normal(0, 4, (3, 129, 129)), SCORES)
    peak, inv = single_pass_softmax(scores, 4, SOFTMAX)
    v = FixedArray(np.eye(129, dtype=np.int64)[:, :129] << ACT.frac_bits, ACT)  # V = identity
    probs = attention_output(scores, peak, inv, FixedArray(np.tile(v.raw, (1, 3)), ACT),
                             SOFTMAX, F(16, 1, True, "RND", "SAT"))
    exact = np.exp(scores.to_float() - scores.to_float().max(axis=2, keepdims=True))
    exact /= exact.sum(axis=2, keepdims=True)
    got = probs.to_float().reshape(129, 3, 129).transpose(1, 0, 2)
    assert np.max(np.abs(got - exact)) <= 2**-10


# ------------------------------------------------------------------------ attention products
def naive_matmul(a: list, b: list) -> list:
    return [[sum(x * y for x, y in zip(row, col, strict=True)) for col in zip(*b, strict=True)]
            for row in a]


def test_attention_scores_and_output_equal_loops() -> None:
    tokens, heads, width = 7, 2, 4
    q = fixed(RNG.normal(0, 1, (tokens, heads * width)), ACT)
    k = fixed(RNG.normal(0, 1, (tokens, heads * width)), ACT)
    v = fixed(RNG.normal(0, 1, (tokens, heads * width)), ACT)
    scores = attention_scores(q, k, heads, SCORES)
    product_frac = 2 * ACT.frac_bits
    for h in range(heads):
        cols = slice(h * width, (h + 1) * width)
        exact = naive_matmul(q.raw[:, cols].tolist(), k.raw[:, cols].T.tolist())
        wide = F(48, 48 - product_frac)
        expected = FixedArray(np.array(exact), wide).cast(SCORES).raw
        assert scores.raw[h].tolist() == expected.tolist()
    peak, inv = single_pass_softmax(scores, 2, SOFTMAX)
    out = attention_output(scores, peak, inv, v, SOFTMAX, ACT)
    for h in range(heads):
        cols = slice(h * width, (h + 1) * width)
        probs = [[int((SOFTMAX.exp(SOFTMAX.difference(one(s, SCORES), one(peak.raw[h, r],
                                                                             SCORES)))
                       * one(inv.raw[h, r], inv.fmt)).cast(SOFTMAX.prob_fmt).raw[0])
                  for s in scores.raw[h, r]] for r in range(tokens)]
        exact = naive_matmul(probs, v.raw[:, cols].tolist())
        wide = F(48, 48 - SOFTMAX.prob_fmt.frac_bits - ACT.frac_bits)
        assert out.raw[:, cols].tolist() == FixedArray(np.array(exact), wide).cast(ACT).raw.tolist()
    attention = np.exp(scores.to_float() - scores.to_float().max(axis=2, keepdims=True))
    attention /= attention.sum(axis=2, keepdims=True)
    reference = np.concatenate([attention[h] @ v.to_float()[:, h * width:(h + 1) * width]
                                for h in range(heads)], axis=1)
    assert np.max(np.abs(out.to_float() - reference)) < 4 * 2**-10


# ------------------------------------------------------------------------ linear, GELU, LN
def test_linear_with_bias_and_residual_equals_a_loop() -> None:
    x = fixed(RNG.normal(0, 1, (5, 12)), ACT)
    w = fixed(RNG.normal(0, 0.3, (7, 12)), WEIGHT)
    b = fixed(RNG.normal(0, 0.3, 7), WEIGHT)
    r = fixed(RNG.normal(0, 1, (5, 7)), ACT)
    got = linear(x, w, b, ACT, residual=r)
    frac = ACT.frac_bits + WEIGHT.frac_bits
    expected = []
    for t in range(5):
        row = []
        for o in range(7):
            acc = sum(int(x.raw[t, i]) * int(w.raw[o, i]) for i in range(12))
            acc += int(b.raw[o]) << (frac - WEIGHT.frac_bits)
            acc += int(r.raw[t, o]) << (frac - ACT.frac_bits)
            row.append(acc)
        expected.append(row)
    expected_raw = FixedArray(np.array(expected), F(48, 48 - frac)).cast(ACT).raw
    assert got.raw.tolist() == expected_raw.tolist()
    reference = x.to_float() @ w.to_float().T + b.to_float() + r.to_float()
    assert np.max(np.abs(got.to_float() - reference)) <= ACT.lsb / 2


def test_linear_with_fused_gelu() -> None:
    gelu = GeluSpec(F(16, 4, True, "RND", "SAT"), F(16, 4, True, "RND", "SAT"))
    x = fixed(RNG.normal(0, 1, (4, 8)), ACT)
    w = fixed(RNG.normal(0, 0.5, (6, 8)), WEIGHT)
    got = linear(x, w, None, gelu.output_fmt, gelu=gelu)
    pre = linear(x, w, None, gelu.input_fmt)
    assert got.raw.tolist() == gelu(pre).raw.tolist()
    with pytest.raises(ValueError, match="fused GELU outputs"):
        linear(x, w, None, ACT, gelu=gelu)


LAYER_NORM = LayerNormSpec(
    mean_fmt=F(24, 5, True, "RND", "SAT"),
    rsqrt=RsqrtSpec(F(24, 8, False, "RND", "SAT"), F(24, 6, False, "RND", "SAT")),
    normalized_fmt=F(16, 4, True, "RND", "SAT"),
    out_fmt=ACT)


def test_layer_norm_equals_a_loop_and_float() -> None:
    dim = 24
    x = fixed(RNG.normal(0.5, 2, (6, dim)), ACT)
    gamma = fixed(RNG.normal(1, 0.2, dim), F(16, 5, True, "RND", "SAT"))
    beta = fixed(RNG.normal(0, 0.2, dim), F(16, 5, True, "RND", "SAT"))
    got = layer_norm(x, gamma, beta, LAYER_NORM)
    inv_dim_bits = LAYER_NORM.inv_dim_bits
    inv_dim = round(2**inv_dim_bits / dim)
    fx = ACT.frac_bits
    for t in range(6):
        values = [int(v) for v in x.raw[t]]
        total, squares = sum(values), sum(v * v for v in values)
        mean = FixedArray(np.array([total * inv_dim]), F(62, 62 - fx - inv_dim_bits)).cast(
            LAYER_NORM.mean_fmt)
        mean_sq = FixedArray(np.array([squares * inv_dim]),
                             F(62, 62 - 2 * fx - inv_dim_bits)).cast(LAYER_NORM.var_fmt)
        variance = mean_sq - (mean * mean).cast(LAYER_NORM.var_fmt)
        variance = FixedArray(np.maximum(variance.raw, 0), variance.fmt) + FixedArray.from_float(
            LAYER_NORM.eps, LAYER_NORM.var_fmt)
        inv_std = LAYER_NORM.rsqrt(variance.cast(LAYER_NORM.var_fmt))
        for i in range(dim):
            centered = one(values[i], ACT) - mean
            normalized = (centered * inv_std).cast(LAYER_NORM.normalized_fmt)
            out = (normalized * one(gamma.raw[i], gamma.fmt) + one(beta.raw[i], beta.fmt))
            assert got.raw[t, i] == out.cast(ACT).raw[0]
    values = x.to_float()
    reference = ((values - values.mean(1, keepdims=True))
                 / np.sqrt(values.var(1, keepdims=True) + LAYER_NORM.eps)
                 * gamma.to_float() + beta.to_float())
    assert np.max(np.abs(got.to_float() - reference)) < 2**-8


def test_patch_embedding_equals_a_loop() -> None:
    pixels = FixedArray(RNG.integers(0, 256, (3, 8, 12)), F(8, 0, False))
    weight = fixed(RNG.normal(0, 0.1, (5, 3 * 4 * 4)), WEIGHT)
    bias = fixed(RNG.normal(0, 0.1, 5), WEIGHT)
    position = fixed(RNG.normal(0, 0.1, (7, 5)), ACT)
    got = patch_embed(pixels, weight, bias, position, 4, ACT)
    assert got.shape == (7, 5)
    frac = 8 + WEIGHT.frac_bits
    for p in range(6):
        py, px = divmod(p, 3)
        for d in range(5):
            acc = 0
            for c in range(3):
                for y in range(4):
                    for x in range(4):
                        acc += int(pixels.raw[c, py * 4 + y, px * 4 + x]) * int(
                            weight.raw[d, c * 16 + y * 4 + x])
            acc += (int(bias.raw[d]) << (frac - WEIGHT.frac_bits))
            acc += (int(position.raw[p + 1, d]) << (frac - ACT.frac_bits))
            assert got.raw[p + 1, d] == FixedArray(np.array([acc]), F(48, 48 - frac)).cast(
                ACT).raw[0]
    assert got.raw[0].tolist() == position.cast(ACT).raw[0].tolist()  # the CLS row
    rows = pixels.raw.reshape(3, 2, 4, 3, 4).transpose(1, 3, 0, 2, 4).reshape(6, 48) / 256
    reference = rows @ weight.to_float().T + bias.to_float() + position.to_float()[1:]
    assert np.max(np.abs(got.to_float()[1:] - reference)) <= ACT.lsb / 2


# ------------------------------------------------------------------------ mixture of experts
def test_gate_and_top_k_with_ties() -> None:
    probs = FixedArray(np.array([[3, 9, 9, 1], [5, 5, 5, 5], [0, 2, 7, 7]]), F(8, 1, False))
    assert top_k_experts(probs, 2).tolist() == [[1, 2], [0, 1], [2, 3]]
    assert [q.tolist() for q in expert_queues(top_k_experts(probs, 2), 4)] == [[1], [0, 1], [0, 2],
                                                                       [2]]
    x = fixed(RNG.normal(0, 1, (9, 8)), ACT)
    gate = fixed(RNG.normal(0, 0.5, (4, 8)), WEIGHT)
    got, chosen = route_tokens(x, gate, SCORES, SOFTMAX, top_k=2, renormalize=False)
    logits = x.to_float() @ gate.to_float().T
    exact = np.exp(logits - logits.max(1, keepdims=True))
    exact /= exact.sum(1, keepdims=True)
    assert np.max(np.abs(got.to_float() - exact)) < 2**-9
    assert chosen.tolist() == top_k_experts(got, 2).tolist()


def test_the_renormalized_gate_is_a_softmax_over_the_top_k_logits() -> None:
    x = fixed(RNG.normal(0, 1, (50, 8)), ACT)
    gate = fixed(RNG.normal(0, 0.5, (6, 8)), WEIGHT)
    got, chosen = route_tokens(x, gate, SCORES, SOFTMAX, top_k=2, renormalize=True)
    logits = (x.to_float() @ gate.to_float().T)
    assert chosen.tolist() == top_k_experts(FixedArray.from_float(logits, SCORES), 2).tolist()
    kept = np.take_along_axis(logits, chosen, axis=1)
    exact = np.exp(kept - kept.max(1, keepdims=True))
    exact /= exact.sum(1, keepdims=True)
    weights = got.to_float()
    assert np.max(np.abs(np.take_along_axis(weights, chosen, axis=1) - exact)) < 2**-9
    np.put_along_axis(weights, chosen, 0, axis=1)
    assert not weights.any()  # the experts left out weigh nothing


def test_moe_equals_a_per_token_loop() -> None:
    tokens, dim, hidden, experts = 10, 8, 12, 4
    gelu = GeluSpec(F(16, 4, True, "RND", "SAT"), F(16, 4, True, "RND", "SAT"))
    weights = ExpertWeights.from_stacked(fixed(RNG.normal(0, 0.4, (experts, hidden, dim)), WEIGHT),
                            fixed(RNG.normal(0, 0.1, (experts, hidden)), WEIGHT),
                            fixed(RNG.normal(0, 0.4, (experts, dim, hidden)), WEIGHT),
                            fixed(RNG.normal(0, 0.1, (experts, dim)), WEIGHT))
    x = fixed(RNG.normal(0, 1, (tokens, dim)), ACT)
    residual = fixed(RNG.normal(0, 1, (tokens, dim)), ACT)
    probs, chosen = route_tokens(x, fixed(RNG.normal(0, 0.5, (experts, dim)), WEIGHT), SCORES,
                                 SOFTMAX, top_k=2, renormalize=False)
    got, queues = moe(x, residual, probs, chosen, weights, gelu, ACT, ACT)
    assert sum(len(q) for q in queues) == tokens * 2
    for t in range(tokens):
        acc = FixedArray(residual.raw[t:t + 1], ACT)
        for e in chosen[t]:
            h = linear(x[t:t + 1], weights.fc1_weight[e], weights.fc1_bias[e], gelu.output_fmt,
                       gelu=gelu)
            y = linear(h, weights.fc2_weight[e], weights.fc2_bias[e], ACT)
            acc = acc + FixedArray(probs.raw[t:t + 1, e:e + 1], probs.fmt) * y
        assert got.raw[t].tolist() == acc.cast(ACT).raw[0].tolist()
