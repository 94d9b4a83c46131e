// Reordered multi-head attention with the single-pass softmax (Edge-MoE).
//
// Query rows are processed ATTENTION_PARALLEL (P) at a time. Row b*P + o starts at key o
// and wraps, so the P rows of a block read P different keys in every step. A layer's K
// and V are read from DDR once, a whole word (FEATURE_LANES values) a cycle, and kept on
// chip. The heads form HEAD_GROUPS groups of ATTENTION_HEADS side by side (GROUP_DIM
// products); every cycle serves one row and one head group, the P rows and the groups
// taking turns: a (row, head)'s running softmax state must be back from its update before
// its next key arrives, so with fewer turns than the update's latency the loop waits (its
// initiation interval grows). Pass 1 computes each score once, keeps it on chip, and
// updates the running maximum and sum (a new maximum rescales the sum); the row then
// stores (max, 1/sum) per head. Pass 2 normalizes inside A x V:
// p = exp(s - max) * (1/sum), accumulated exactly with V and rounded once.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

namespace {

struct RowState {
    wide_t peak;  // in the scores' format
    wide_t total;  // in the softmax sum's format
};

// score - peak (both in the scores' format) cast to the exp's input format.
wide_t difference(wide_t lower, wide_t upper, const BlockParams &block) {
#pragma HLS inline
    return requantize(lower - upper, block.scores.frac, block.softmax.diff);
}

// exp(0) = 1 in the sum's format (the first key of a row, and every new maximum).
wide_t one_in_sum(const SoftmaxParams &softmax) {
#pragma HLS inline
    return requantize(wide_t(1) << softmax.exp.frac, softmax.exp.frac, softmax.sum);
}

void softmax_update(RowState &state, wide_t score, const BlockParams &block) {
#pragma HLS inline
    const SoftmaxParams &softmax = block.softmax;
    if (score > state.peak) {
        const wide_t factor = approx_exp(difference(state.peak, score, block), softmax.diff,
                                         softmax.exp);
        state.total = requantize(narrow<softmax_total_t>(state.total)
                                     * narrow<softmax_exp_t>(factor),
                                 softmax.sum.frac + softmax.exp.frac, softmax.sum)
                      + one_in_sum(softmax);
        state.peak = score;
    } else {
        const wide_t term = approx_exp(difference(score, state.peak, block), softmax.diff,
                                       softmax.exp);
        state.total += requantize(term, softmax.exp.frac, softmax.sum);
    }
}

}  // namespace

void attention(const BlockParams &block, word_t *scratch, unsigned q_word, unsigned k_word,
               unsigned v_word, unsigned out_word, unsigned scores_word, bool debug) {
    constexpr int BLOCK_STEPS = TOKENS * ATTENTION_PARALLEL * HEAD_GROUPS;
    const SoftmaxParams &softmax = block.softmax;
    const int score_frac = block.q.frac + block.k.frac;
    const int value_frac = softmax.prob.frac + block.v.frac;
    static operand_t keys[TOKENS][DIM];  // a head group's slice of a row a cycle
#pragma HLS array_reshape variable = keys cyclic factor = GROUP_DIM dim = 2
    static operand_t values[TOKENS][DIM];
#pragma HLS array_reshape variable = values cyclic factor = GROUP_DIM dim = 2
    load_rows<FEATURE_BITS, TOKENS, DIM>(scratch, k_word, TOKENS, DIM, block.k, keys);
    load_rows<FEATURE_BITS, TOKENS, DIM>(scratch, v_word, TOKENS, DIM, block.v, values);

attention_blocks:
    for (int first = 0; first < TOKENS; first += ATTENTION_PARALLEL) {
        operand_t q[ATTENTION_PARALLEL][DIM];
#pragma HLS array_reshape variable = q cyclic factor = GROUP_DIM dim = 2
#pragma HLS bind_storage variable = q type = ram_2p impl = lutram
        feature_t scores[ATTENTION_PARALLEL][HEAD_GROUPS][ATTENTION_HEADS][TOKENS];
#pragma HLS array_partition variable = scores complete dim = 3
        RowState state[ATTENTION_PARALLEL][HEAD_GROUPS][ATTENTION_HEADS];
#pragma HLS array_partition variable = state complete dim = 3
        wide_t inv_sum[ATTENTION_PARALLEL][HEAD_GROUPS][ATTENTION_HEADS];
#pragma HLS array_partition variable = inv_sum complete dim = 3
        value_sum_t acc[ATTENTION_PARALLEL][DIM];
#pragma HLS array_reshape variable = acc cyclic factor = GROUP_DIM dim = 2
#pragma HLS bind_storage variable = acc type = ram_2p impl = lutram
        const int rows = TOKENS - first < ATTENTION_PARALLEL ? TOKENS - first : ATTENTION_PARALLEL;
        // the block's query rows are contiguous in DDR: one burst in, one out
        load_rows<FEATURE_BITS, ATTENTION_PARALLEL, DIM>(
            scratch, q_word + first * (DIM / FEATURE_LANES), rows, DIM, block.q, q);
        // row first + p meets key p + step (mod TOKENS) in step `step`, each head group g
        // in turn
        int step = 0, g = 0, p = 0, key = 0;
    attention_key_steps:
        for (int i = 0; i < BLOCK_STEPS; ++i) {
#pragma HLS pipeline
#pragma HLS dependence variable = state type = inter direction = RAW distance = ATTENTION_TURNS true
            if (p < rows) {
            attention_key_heads:
                for (int j = 0; j < ATTENTION_HEADS; ++j) {
#pragma HLS unroll
                    const score_sum_t dot = dot_product<score_sum_t, HEAD_DIM>(
                        q[p], keys[key], (g * ATTENTION_HEADS + j) * HEAD_DIM);
                    const wide_t score = requantize(wide_t(dot), score_frac, block.scores);
                    scores[p][g][j][key] = feature_t(score);
                    if (step == 0) {
                        state[p][g][j] = {score, one_in_sum(softmax)};
                    } else {
                        softmax_update(state[p][g][j], score, block);
                    }
                }
            }
            if (++p == ATTENTION_PARALLEL) {
                p = 0;
                if (++g == HEAD_GROUPS) {
                    g = 0;
                    ++step;
                }
            }
            key = p + step < TOKENS ? p + step : p + step - TOKENS;
        }
    attention_row_stats:
        for (int p = 0; p < rows; ++p) {
#pragma HLS loop_tripcount min = 1 max = ATTENTION_PARALLEL
        attention_row_stats_groups:
            for (int g = 0; g < HEAD_GROUPS; ++g) {
            attention_row_stats_heads:
                for (int j = 0; j < ATTENTION_HEADS; ++j) {
                    inv_sum[p][g][j] = approx_reciprocal(state[p][g][j].total, softmax.sum,
                                                         softmax.inv_sum);
                }
            }
        }
        int value_key = 0, value_group = 0, value_row = 0;
    attention_values:
        for (int i = 0; i < BLOCK_STEPS; ++i) {
#pragma HLS pipeline II = 1
#pragma HLS dependence variable = acc type = inter direction = RAW distance = ATTENTION_TURNS true
            if (value_row < rows) {
            attention_value_heads:
                for (int j = 0; j < ATTENTION_HEADS; ++j) {
#pragma HLS unroll
                    const wide_t score = feature_value(
                        scores[value_row][value_group][j][value_key], block.scores);
                    const wide_t e = approx_exp(
                        difference(score, state[value_row][value_group][j].peak, block),
                        softmax.diff, softmax.exp);
                    const wide_t inv = inv_sum[value_row][value_group][j];
                    const wide_t prob = requantize(narrow<softmax_exp_t>(e)
                                                       * narrow<softmax_inv_sum_t>(inv),
                                                   softmax.exp.frac + softmax.inv_sum.frac,
                                                   softmax.prob);
                attention_value_dims:
                    for (int d = 0; d < HEAD_DIM; ++d) {
#pragma HLS unroll
                        const int column = (value_group * ATTENTION_HEADS + j) * HEAD_DIM + d;
                        acc[value_row][column] = multiply_add(
                            value_key == 0 ? value_sum_t(0) : acc[value_row][column],
                            operand_t(prob), values[value_key][column]);
                    }
                }
            }
            if (++value_row == ATTENTION_PARALLEL) {
                value_row = 0;
                if (++value_group == HEAD_GROUPS) {
                    value_group = 0;
                    ++value_key;
                }
            }
        }
        feature_t out[ATTENTION_PARALLEL][DIM];
#pragma HLS array_reshape variable = out cyclic factor = FEATURE_LANES dim = 2
    attention_round:
        for (int p = 0; p < rows; ++p) {
#pragma HLS loop_tripcount min = 1 max = ATTENTION_PARALLEL
        attention_round_blocks:
            for (int b = 0; b < DIM / FEATURE_LANES; ++b) {
#pragma HLS pipeline II = 1
            attention_round_lanes:
                for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
                    const int column = b * FEATURE_LANES + lane;
                    out[p][column] = feature_t(requantize(wide_t(acc[p][column]), value_frac,
                                                           block.attn));
                }
            }
        }
        store_rows<ATTENTION_PARALLEL, DIM>(scratch, out_word + first * (DIM / FEATURE_LANES),
                                            rows, DIM, out);
        if (debug) {
        attention_debug_rows:
            for (int p = 0; p < rows; ++p) {
#pragma HLS loop_tripcount min = 1 max = ATTENTION_PARALLEL
            attention_debug_groups:
                for (int g = 0; g < HEAD_GROUPS; ++g) {
                attention_debug_scores:
                    for (int j = 0; j < ATTENTION_HEADS; ++j) {
                        const int h = g * ATTENTION_HEADS + j;
                    attention_debug_keys:
                        for (int key = 0; key < TOKENS; ++key) {
                            store_feature(scratch, scores_word,
                                          (h * TOKENS + first + p) * TOKENS + key,
                                          scores[p][g][j][key]);
                        }
                    }
                }
            }
        }
    }
}

}  // namespace edgemoe
