// The mixture-of-experts layer: the task's gate scores every expert for every token
// (softmax over all of them), each token keeps its TOP_K best (ties to the lower expert
// index; with GATE_RENORMALIZES_TOP_K the TOP_K largest logits, and the softmax runs over
// those only), tokens are sorted into one queue per expert (the patch reordering), and every
// expert with a non-empty queue runs once over it on the linear unit, its weights
// streamed once. Each output row, times the token's gate probability, accumulates exactly
// into the token's row on top of the residual; the sum is rounded once.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

namespace {

constexpr int GATHER_BLOCKS = DIM / TILE_IN;  // words of a token's row on the tile's input
constexpr int SCATTER_BLOCKS = DIM / FEATURE_BLOCK;  // whole words of the accumulators
constexpr int MAX_GATHER_STEPS = TOKENS * GATHER_BLOCKS;
constexpr int MAX_SCATTER_STEPS = TOKENS * SCATTER_BLOCKS;

typedef wide_t Probabilities[TOKENS][EXPERTS];
typedef unsigned short Queues[EXPERTS][TOKENS];

// Expert e's rank: how many experts beat it (a higher score, or equal and a lower id).
void top_k(const wide_t scores[EXPERTS], unsigned char chosen[TOP_K]) {
#pragma HLS inline
top_k_experts:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        int rank = 0;
    top_k_compare:
        for (int other = 0; other < EXPERTS; ++other) {
#pragma HLS unroll
            if (scores[other] > scores[e] || (scores[other] == scores[e] && other < e)) {
                ++rank;
            }
        }
        if (rank < TOP_K) chosen[rank] = e;
    }
}

// Token t's gate: every expert's weight and the TOP_K chosen experts, best first.
void route_token(const BlockParams &block, const wide_t gate[EXPERTS][DIM],
                 const FeatureRows tokens, int t, Probabilities probs,
                 unsigned char chosen[TOP_K]) {
#pragma HLS inline
    const SoftmaxParams &softmax = block.gate_softmax;
    const Format &g = block.gate.format;
    wide_t dots[EXPERTS];
#pragma HLS array_partition variable = dots complete
gate_clear:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS unroll
        dots[e] = 0;
    }
    // every expert's logit at once: one input a cycle into EXPERTS multipliers
gate_dots:
    for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
    gate_dot_experts:
        for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS unroll
            dots[e] += operand_t(feature_value(tokens[t][d], block.norm2.out))
                       * weight_t(gate[e][d]);
        }
    }
    wide_t logits[EXPERTS];
    wide_t peak = 0;
gate_logits:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        logits[e] = requantize(dots[e], block.norm2.out.frac + g.frac, block.gate_logits);
        if (e == 0 || logits[e] > peak) peak = logits[e];
    }
    // Renormalizing, the experts are chosen by their logits and the rest sit out the sum.
    bool kept[EXPERTS];
#pragma HLS array_partition variable = kept complete
gate_keep_all:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS unroll
        kept[e] = !GATE_RENORMALIZES_TOP_K;
    }
    if (GATE_RENORMALIZES_TOP_K) {
        top_k(logits, chosen);
    gate_keep_chosen:
        for (int k = 0; k < TOP_K; ++k) {
#pragma HLS unroll
            kept[chosen[k]] = true;
        }
    }
    wide_t exps[EXPERTS];
    wide_t total = 0;
gate_exp:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        const wide_t diff = requantize(logits[e] - peak, block.gate_logits.frac, softmax.diff);
        exps[e] = kept[e] ? approx_exp(diff, softmax.diff, softmax.exp) : wide_t(0);
        total += exps[e];
    }
    const wide_t sum = requantize(total, softmax.exp.frac, softmax.sum);
    const wide_t inv = approx_reciprocal(sum, softmax.sum, softmax.inv_sum);
gate_normalize:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        probs[t][e] = requantize(narrow<softmax_exp_t>(exps[e]) * narrow<softmax_inv_sum_t>(inv),
                                 softmax.exp.frac + softmax.inv_sum.frac, softmax.prob);
    }
    if (!GATE_RENORMALIZES_TOP_K) top_k(probs[t], chosen);
}

LinearLayer expert_fc1(const BlockParams &block, int e) {
#pragma HLS inline
    return {block.fc1_weight, block.fc1_bias, unsigned(e * EXPERT_HIDDEN), DIM, EXPERT_HIDDEN};
}

LinearLayer expert_fc2(const BlockParams &block, int e) {
#pragma HLS inline
    return {block.fc2_weight, block.fc2_bias, unsigned(e * DIM), EXPERT_HIDDEN, DIM};
}

// Expert e over its queue of `length` tokens on the linear unit: gather the rows into
// features[0], fc1 + GELU into features[1], fc2 back into features[0], then each output
// row times the token's gate probability into the token's accumulator row (the scatter,
// a word of FEATURE_BLOCK accumulators a cycle).
void run_expert(const word_t *weights, const word_t *weights_mirror, const BlockParams &block,
                int e, const Queues queue,
                int length, const FeatureRows tokens, const Probabilities probs, int frac,
                moe_sum_t acc[TOKENS][DIM], FeatureSides features) {
#pragma HLS inline
    int r = 0, block_index = 0;
run_expert_gather:
    for (int k = 0; k < length * GATHER_BLOCKS; ++k) {
#pragma HLS loop_tripcount min = 1 max = MAX_GATHER_STEPS
#pragma HLS pipeline II = 1
        const int t = queue[e][r];
    run_expert_gather_lanes:
        for (int i = 0; i < TILE_IN; ++i) {
#pragma HLS unroll
            features[0][r][block_index * TILE_IN + i] = tokens[t][block_index * TILE_IN + i];
        }
        if (++block_index == GATHER_BLOCKS) {
            block_index = 0;
            ++r;
        }
    }
    const LinearOutput to_hidden = {block.hidden, true, block.fc1, false, block.hidden};
    linear_rows(weights, weights_mirror, expert_fc1(block, e), block.norm2.out, features, 0,
                length, tokens, to_hidden);
    const LinearOutput to_out = {block.expert_out, false, block.expert_out, false,
                                 block.expert_out};
    linear_rows(weights, weights_mirror, expert_fc2(block, e), block.hidden, features, 1,
                length, tokens, to_out);
    const int product_frac = block.gate_softmax.prob.frac + block.expert_out.frac;
    r = 0;
    block_index = 0;
run_expert_scatter:
    for (int k = 0; k < length * SCATTER_BLOCKS; ++k) {
#pragma HLS loop_tripcount min = 1 max = MAX_SCATTER_STEPS
#pragma HLS pipeline II = 1
        // a queue holds each token once and an iteration updates a whole word of its row:
        // no two iterations touch one accumulator word
#pragma HLS dependence variable = acc type = inter false
        const int t = queue[e][r];
    run_expert_scatter_lanes:
        for (int o = 0; o < FEATURE_BLOCK; ++o) {
#pragma HLS unroll
            const int column = block_index * FEATURE_BLOCK + o;
            const wide_t value = feature_value(features[0][r][column], block.expert_out);
            const wide_t product = operand_t(probs[t][e]) * operand_t(value);
            acc[t][column] = narrow<moe_sum_t>(wide_t(acc[t][column])
                                               + (product << (frac - product_frac)));
        }
        if (++block_index == SCATTER_BLOCKS) {
            block_index = 0;
            ++r;
        }
    }
}

}  // namespace

void moe_layer(const word_t *weights, const word_t *weights_mirror, const BlockParams &block,
               int task, word_t *scratch, unsigned in_word, unsigned residual_word,
               unsigned out_word, unsigned probs_word, bool debug, FeatureSides features,
               FeatureRows rows) {
#pragma HLS inline
    constexpr int BLOCKS = DIM / FEATURE_LANES;
    // the layer's tokens stay in `rows` while the experts use `features`
    load_rows<FEATURE_BITS, TOKENS, BUFFER_WIDTH>(scratch, in_word, TOKENS, DIM,
                                                  block.norm2.out, rows);
    static moe_sum_t acc[TOKENS][DIM];  // residual + sum of gate-weighted expert outputs
#pragma HLS array_reshape variable = acc cyclic factor = FEATURE_BLOCK dim = 2
#pragma HLS bind_storage variable = acc type = ram_2p impl = uram
    static Probabilities probs;
#pragma HLS array_partition variable = probs complete dim = 2
    static Queues queue;
    static unsigned short queue_length[EXPERTS];

    const int product_frac = block.gate_softmax.prob.frac + block.expert_out.frac;
    const int frac = product_frac > block.residual1.frac ? product_frac : block.residual1.frac;
    load_rows<FEATURE_BITS, TOKENS, DIM>(scratch, residual_word, TOKENS, DIM, block.residual1,
                                         acc);
moe_residual:
    for (int t = 0; t < TOKENS; ++t) {
    moe_residual_blocks:
        for (int b = 0; b < BLOCKS; ++b) {
#pragma HLS pipeline II = 1
        moe_residual_lanes:
            for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
                const int d = b * FEATURE_LANES + lane;
                const int shift = frac - block.residual1.frac;
                acc[t][d] = narrow<moe_sum_t>(wide_t(acc[t][d]) << shift);
            }
        }
    }

    static wide_t gate[EXPERTS][DIM];  // this task's gate: all tasks' sit in DDR
#pragma HLS array_partition variable = gate complete dim = 1
    load_rows<WEIGHT_BITS, EXPERTS, DIM>(weights,
                                         block.gate.word + task * (EXPERTS * DIM / WEIGHT_LANES),
                                         EXPERTS, DIM, block.gate.format, gate);
moe_clear_queues:
    for (int e = 0; e < EXPERTS; ++e) queue_length[e] = 0;
moe_route:
    for (int t = 0; t < TOKENS; ++t) {
        unsigned char chosen[TOP_K];
        route_token(block, gate, rows, t, probs, chosen);
    moe_enqueue:
        for (int k = 0; k < TOP_K; ++k) {
            const int e = chosen[k];
            queue[e][queue_length[e]++] = t;  // in token order: the patch reordering
        }
        if (debug) {
        moe_debug_probs:
            for (int e = 0; e < EXPERTS; ++e) {
                store_feature(scratch, probs_word, t * EXPERTS + e, probs[t][e]);
            }
        }
    }

    // Every active expert once, in order; unused experts never load.
moe_experts:
    for (int e = 0; e < EXPERTS; ++e) {
        if (queue_length[e] == 0) continue;
        run_expert(weights, weights_mirror, block, e, queue, queue_length[e], rows, probs, frac,
                   acc, features);
    }
moe_round:  // the rounded outputs into features[1], then out in one burst
    for (int t = 0; t < TOKENS; ++t) {
    moe_round_blocks:
        for (int b = 0; b < BLOCKS; ++b) {
#pragma HLS pipeline II = 1
        moe_round_lanes:
            for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
                const int d = b * FEATURE_LANES + lane;
                features[1][t][d] =
                    feature_t(requantize(wide_t(acc[t][d]), frac, block.out));
            }
        }
    }
    store_rows<TOKENS, BUFFER_WIDTH>(scratch, out_word, TOKENS, DIM, features[1]);
}

}  // namespace edgemoe
