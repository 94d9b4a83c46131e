// The mixture-of-experts layer: the task's gate scores every expert for every token
// (softmax over all of them), each token keeps its TOP_K best (ties to the lower expert
// index), tokens are sorted into one queue per expert (the patch reordering), and every
// expert with a non-empty queue runs once over it, its weights loaded once. Each output
// row, times the token's gate probability, accumulates exactly into the token's row on
// top of the residual; the sum is rounded once.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

namespace {

void gate_probabilities(const BlockParams &block, const wide_t gate[EXPERTS * DIM],
                        const wide_t x[DIM], wide_t probs[EXPERTS]) {
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
            dots[e] += operand_t(x[d]) * weight_t(gate[e * DIM + d]);
        }
    }
    wide_t logits[EXPERTS];
    wide_t peak = 0;
gate_logits:
    for (int e = 0; e < EXPERTS; ++e) {
        logits[e] = requantize(dots[e], block.norm2.out.frac + g.frac, block.gate_logits);
        if (e == 0 || logits[e] > peak) peak = logits[e];
    }
    wide_t exps[EXPERTS];
    wide_t total = 0;
gate_exp:
    for (int e = 0; e < EXPERTS; ++e) {
        const wide_t diff = requantize(logits[e] - peak, block.gate_logits.frac, softmax.diff);
        exps[e] = approx_exp(diff, softmax.diff, softmax.exp);
        total += exps[e];
    }
    const wide_t sum = requantize(total, softmax.exp.frac, softmax.sum);
    const wide_t inv = approx_reciprocal(sum, softmax.sum, softmax.inv_sum);
gate_normalize:
    for (int e = 0; e < EXPERTS; ++e) {
        probs[e] = requantize(exps[e] * inv, softmax.exp.frac + softmax.inv_sum.frac,
                              softmax.prob);
    }
}

// Expert e's rank: how many experts beat it (higher probability, or equal and lower id).
void top_k(const wide_t probs[EXPERTS], unsigned char chosen[TOP_K]) {
top_k_experts:
    for (int e = 0; e < EXPERTS; ++e) {
        int rank = 0;
    top_k_compare:
        for (int other = 0; other < EXPERTS; ++other) {
#pragma HLS unroll
            if (probs[other] > probs[e] || (probs[other] == probs[e] && other < e)) ++rank;
        }
        if (rank < TOP_K) chosen[rank] = e;
    }
}

// One expert's two layers on chip, in its ping or its pong buffer.
struct ExpertBuffers {
    LayerWeights fc1, fc2;
};

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

void load_expert(const word_t *weights, const BlockParams &block, int e,
                 ExpertBuffers &buffers) {
    load_layer(weights, expert_fc1(block, e), buffers.fc1);
    load_layer(weights, expert_fc2(block, e), buffers.fc2);
}

// The expert over its queue: gather the rows, fc1 + GELU, fc2, then each output row times
// the token's gate probability into the token's accumulator row (the scatter).
void run_expert(const ExpertBuffers &buffers, const BlockParams &block, int e,
                const ExpertQueue &queue, const wide_t x[TOKENS * DIM],
                const wide_t probs[TOKENS][EXPERTS], int frac, wide_t acc[TOKENS * DIM]) {
    static wide_t rows[TOKENS * DIM];
    static wide_t hidden[TOKENS * EXPERT_HIDDEN];
    static wide_t out[TOKENS * DIM];
run_expert_gather:
    for (int r = 0; r < queue.length; ++r) {
#pragma HLS loop_tripcount min = 1 max = TOKENS
    run_expert_gather_dims:
        for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
            rows[r * DIM + d] = x[queue.tokens[r] * DIM + d];
        }
    }
    const LinearOutput to_hidden = {&block.hidden, &block.fc1, nullptr};
    linear_rows(buffers.fc1, expert_fc1(block, e), rows, block.norm2.out, queue.length,
                nullptr, to_hidden, hidden);
    const LinearOutput to_out = {&block.expert_out, nullptr, nullptr};
    linear_rows(buffers.fc2, expert_fc2(block, e), hidden, block.hidden, queue.length,
                nullptr, to_out, out);
    const int product_frac = block.gate_softmax.prob.frac + block.expert_out.frac;
run_expert_scatter:
    for (int r = 0; r < queue.length; ++r) {
#pragma HLS loop_tripcount min = 1 max = TOKENS
        const int t = queue.tokens[r];
    run_expert_scatter_dims:
        for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
            acc[t * DIM + d] += wide_t(operand_t(probs[t][e]) * operand_t(out[r * DIM + d]))
                                << (frac - product_frac);
        }
    }
}

// Double buffering: the current expert computes from one buffer while the next active
// expert's weights load into the other.
void expert_step(const word_t *weights, const BlockParams &block, int current, int next,
                 const ExpertQueue &queue, const wide_t x[TOKENS * DIM],
                 const wide_t probs[TOKENS][EXPERTS], int frac, wide_t acc[TOKENS * DIM],
                 const ExpertBuffers &computing, ExpertBuffers &loading) {
#pragma HLS dataflow
    if (next >= 0) load_expert(weights, block, next, loading);
    run_expert(computing, block, current, queue, x, probs, frac, acc);
}

}  // namespace

void moe_layer(const word_t *weights, const BlockParams &block, int task, word_t *scratch,
               unsigned in_word, unsigned residual_word, unsigned out_word,
               unsigned probs_word, bool debug) {
    static wide_t x[TOKENS * DIM];
    static wide_t acc[TOKENS * DIM];  // residual + sum of gate-weighted expert outputs
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

    // The active experts, in order; each one's weights load while the one before computes.
    int active[EXPERTS];
    int active_count = 0;
moe_active:
    for (int e = 0; e < EXPERTS; ++e) {
        if (queue_length[e] > 0) active[active_count++] = e;  // unused experts never load
    }
    static ExpertBuffers ping, pong;
#pragma HLS array_partition variable = ping.fc1.weights cyclic factor = TILE_WEIGHTS
#pragma HLS array_partition variable = ping.fc2.weights cyclic factor = TILE_WEIGHTS
#pragma HLS array_partition variable = pong.fc1.weights cyclic factor = TILE_WEIGHTS
#pragma HLS array_partition variable = pong.fc2.weights cyclic factor = TILE_WEIGHTS
    if (active_count > 0) load_expert(weights, block, active[0], ping);
moe_experts:
    for (int j = 0; j < active_count; ++j) {
#pragma HLS loop_tripcount min = 1 max = EXPERTS
        const int next = j + 1 < active_count ? active[j + 1] : -1;
        const ExpertQueue queue_of = {queue[active[j]], queue_length[active[j]]};
        if (j % 2 == 0) {
            expert_step(weights, block, active[j], next, queue_of, x, probs, frac, acc, ping,
                        pong);
        } else {
            expert_step(weights, block, active[j], next, queue_of, x, probs, frac, acc, pong,
                        ping);
        }
    }
moe_round:
    for (int t = 0; t < TOKENS; ++t) {
        wide_t out[DIM];
    moe_round_dims:
        for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
            out[d] = requantize(acc[t * DIM + d], frac, block.out);
        }
        store_features(scratch, out_word, t * DIM, DIM, out);
    }
}

}  // namespace edgemoe
