// The mixture-of-experts layer: the task's gate scores every expert for every token
// (softmax over all of them), each token keeps its TOP_K best (ties to the lower expert
// index), tokens are sorted into one queue per expert (the patch reordering), and every
// expert with a non-empty queue runs once over it on the linear unit, its weights
// streamed once. Each output row, times the token's gate probability, accumulates exactly
// into the token's row on top of the residual; the sum is rounded once.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

namespace {

void gate_probabilities(const BlockParams &block, const wide_t gate[EXPERTS * DIM],
                        const feature_t x[DIM], wide_t probs[EXPERTS]) {
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
            dots[e] += operand_t(feature_value(x[d], block.norm2.out))
                       * weight_t(gate[e * DIM + d]);
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
    wide_t exps[EXPERTS];
    wide_t total = 0;
gate_exp:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        const wide_t diff = requantize(logits[e] - peak, block.gate_logits.frac, softmax.diff);
        exps[e] = approx_exp(diff, softmax.diff, softmax.exp);
        total += exps[e];
    }
    const wide_t sum = requantize(total, softmax.exp.frac, softmax.sum);
    const wide_t inv = approx_reciprocal(sum, softmax.sum, softmax.inv_sum);
gate_normalize:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        probs[e] = requantize(exps[e] * inv, softmax.exp.frac + softmax.inv_sum.frac,
                              softmax.prob);
    }
}

// Expert e's rank: how many experts beat it (higher probability, or equal and lower id).
void top_k(const wide_t probs[EXPERTS], unsigned char chosen[TOP_K]) {
top_k_experts:
    for (int e = 0; e < EXPERTS; ++e) {
#pragma HLS pipeline II = 1
        int rank = 0;
    top_k_compare:
        for (int other = 0; other < EXPERTS; ++other) {
#pragma HLS unroll
            if (probs[other] > probs[e] || (probs[other] == probs[e] && other < e)) ++rank;
        }
        if (rank < TOP_K) chosen[rank] = e;
    }
}

struct ExpertQueue {
    const unsigned short *tokens;
    int length;
};

LinearLayer expert_fc1(const BlockParams &block, int e) {
    return {&block.fc1_weight, &block.fc1_bias, unsigned(e * EXPERT_HIDDEN), DIM, EXPERT_HIDDEN};
}

LinearLayer expert_fc2(const BlockParams &block, int e) {
    return {&block.fc2_weight, &block.fc2_bias, unsigned(e * DIM), EXPERT_HIDDEN, DIM};
}

// The expert over its queue on the linear unit: gather the rows, fc1 + GELU, fc2, then
// each output row times the token's gate probability into the token's accumulator row
// (the scatter).
void run_expert(const word_t *weights, const BlockParams &block, int e,
                const ExpertQueue &queue, const feature_t x[TOKENS * DIM],
                const wide_t probs[TOKENS][EXPERTS], int frac, wide_t acc[TOKENS * DIM]) {
    static feature_t rows[TOKENS * DIM];
#pragma HLS array_reshape variable = rows cyclic factor = TILE_IN
#pragma HLS bind_storage variable = rows type = ram_2p impl = uram
    static feature_t hidden[TOKENS * EXPERT_HIDDEN];
#pragma HLS array_reshape variable = hidden cyclic factor = TILE_IN
#pragma HLS bind_storage variable = hidden type = ram_2p impl = uram
    static feature_t out[TOKENS * DIM];
#pragma HLS array_reshape variable = out cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = out type = ram_2p impl = uram
run_expert_gather:
    for (int k = 0; k < queue.length * (DIM / TILE_IN); ++k) {
#pragma HLS loop_tripcount min = 1 max = TOKENS * DIM / TILE_IN
#pragma HLS pipeline II = 1
        const int r = k / (DIM / TILE_IN), base = (k % (DIM / TILE_IN)) * TILE_IN;
    run_expert_gather_lanes:
        for (int i = 0; i < TILE_IN; ++i) {
#pragma HLS unroll
            rows[r * DIM + base + i] = x[queue.tokens[r] * DIM + base + i];
        }
    }
    const LinearOutput to_hidden = {&block.hidden, &block.fc1, nullptr};
    linear_rows(weights, expert_fc1(block, e), block.norm2.out, rows, queue.length, nullptr,
                to_hidden, hidden);
    const LinearOutput to_out = {&block.expert_out, nullptr, nullptr};
    linear_rows(weights, expert_fc2(block, e), block.hidden, hidden, queue.length, nullptr,
                to_out, out);
    const int product_frac = block.gate_softmax.prob.frac + block.expert_out.frac;
run_expert_scatter:
    for (int k = 0; k < queue.length * (DIM / TILE_OUT); ++k) {
#pragma HLS loop_tripcount min = 1 max = TOKENS * DIM / TILE_OUT
#pragma HLS pipeline II = 1
        const int r = k / (DIM / TILE_OUT), base = (k % (DIM / TILE_OUT)) * TILE_OUT;
        const int t = queue.tokens[r];
    run_expert_scatter_lanes:
        for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
            const wide_t value = feature_value(out[r * DIM + base + o], block.expert_out);
            acc[t * DIM + base + o] += wide_t(operand_t(probs[t][e]) * operand_t(value))
                                       << (frac - product_frac);
        }
    }
}

}  // namespace

void moe_layer(const word_t *weights, const BlockParams &block, int task, word_t *scratch,
               unsigned in_word, unsigned residual_word, unsigned out_word,
               unsigned probs_word, bool debug) {
    static feature_t x[TOKENS * DIM];
#pragma HLS array_reshape variable = x cyclic factor = TILE_IN
#pragma HLS bind_storage variable = x type = ram_2p impl = uram
    static wide_t acc[TOKENS * DIM];  // residual + sum of gate-weighted expert outputs
#pragma HLS array_reshape variable = acc cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = acc type = ram_2p impl = uram
    static wide_t probs[TOKENS][EXPERTS];
    static unsigned short queue[EXPERTS][TOKENS];
    static unsigned short queue_length[EXPERTS];
    load_features(scratch, in_word, 0, TOKENS * DIM, block.norm2.out, x);

    const int product_frac = block.gate_softmax.prob.frac + block.expert_out.frac;
    const int frac = product_frac > block.residual1.frac ? product_frac : block.residual1.frac;
    load_features(scratch, residual_word, 0, TOKENS * DIM, block.residual1, acc);
moe_residual:
    for (int i = 0; i < TOKENS * DIM; ++i) {
#pragma HLS pipeline II = 1
#pragma HLS unroll factor = TILE_OUT
        acc[i] = acc[i] << (frac - block.residual1.frac);
    }

    static wide_t gate[EXPERTS * DIM];  // this task's gate: all tasks' sit in DDR
#pragma HLS array_partition variable = gate block factor = EXPERTS
    load_weights(weights, block.gate, task * EXPERTS * DIM, EXPERTS * DIM, gate);
moe_clear_queues:
    for (int e = 0; e < EXPERTS; ++e) queue_length[e] = 0;
moe_route:
    for (int t = 0; t < TOKENS; ++t) {
        gate_probabilities(block, gate, &x[t * DIM], probs[t]);
        unsigned char chosen[TOP_K];
        top_k(probs[t], chosen);
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
        const ExpertQueue queue_of = {queue[e], queue_length[e]};
        run_expert(weights, block, e, queue_of, x, probs, frac, acc);
    }
moe_round:  // x is spent: the rounded outputs take its place, then leave in one burst
    for (int i = 0; i < TOKENS * DIM; ++i) {
#pragma HLS pipeline II = 1
#pragma HLS unroll factor = FEATURE_LANES
        x[i] = feature_t(requantize(acc[i], frac, block.out));
    }
    store_features(scratch, out_word, 0, TOKENS * DIM, x);
}

}  // namespace edgemoe
