// Reordered multi-head attention with the single-pass softmax (Edge-MoE).
//
// Query rows are processed ATTENTION_PARALLEL (P) at a time. Row b*P + o starts at key o
// and wraps, so the P rows of a block read P different keys in every step. A layer's K
// and V are read from DDR once, a whole word (FEATURE_LANES values) a cycle, and kept on
// chip; every cycle then serves one (row, head) pair with its HEAD_DIM products side by
// side, the P x HEADS pairs of a block taking turns so that a row's running softmax state
// is back from its update before the row's next key arrives. Pass 1 computes each score
// once, keeps it on chip, and updates the row's running maximum and sum (a new maximum
// rescales the sum); the row then stores (max, 1/sum). Pass 2 normalizes inside A x V:
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
    return requantize(lower - upper, block.scores.frac, block.softmax.diff);
}

// exp(0) = 1 in the sum's format (the first key of a row, and every new maximum).
wide_t one_in_sum(const SoftmaxParams &softmax) {
    return requantize(wide_t(1) << softmax.exp.frac, softmax.exp.frac, softmax.sum);
}

void softmax_update(RowState &state, wide_t score, const BlockParams &block) {
    const SoftmaxParams &softmax = block.softmax;
    if (score > state.peak) {
        const wide_t factor = approx_exp(difference(state.peak, score, block), softmax.diff,
                                         softmax.exp);
        state.total = requantize(state.total * factor, softmax.sum.frac + softmax.exp.frac,
                                 softmax.sum) + one_in_sum(softmax);
        state.peak = score;
    } else {
        const wide_t term = approx_exp(difference(score, state.peak, block), softmax.diff,
                                       softmax.exp);
        state.total += requantize(term, softmax.exp.frac, softmax.sum);
    }
}

// A layer's K or V (TOKENS x DIM) on chip: a word of FEATURE_LANES values a cycle.
void load_rows(const word_t *scratch, unsigned word, const Format &format,
               operand_t rows[TOKENS][DIM]) {
    static_assert(DIM % FEATURE_LANES == 0, "a token's row must be whole words");
    constexpr int WORDS_PER_ROW = DIM / FEATURE_LANES;
load_rows_words:
    for (int w = 0; w < TOKENS * WORDS_PER_ROW; ++w) {
#pragma HLS pipeline II = 1
        std::uint64_t pieces[PIECES];
        unpack(scratch[word + w], pieces);
        const int t = w / WORDS_PER_ROW, base = (w % WORDS_PER_ROW) * FEATURE_LANES;
    load_rows_lanes:
        for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
            rows[t][base + lane] = operand_t(lane_value(pieces, lane, FEATURE_BITS, format));
        }
    }
}

}  // namespace

void attention(const BlockParams &block, word_t *scratch, unsigned q_word, unsigned k_word,
               unsigned v_word, unsigned out_word, unsigned scores_word, bool debug) {
    const SoftmaxParams &softmax = block.softmax;
    const int score_frac = block.q.frac + block.k.frac;
    const int value_frac = softmax.prob.frac + block.v.frac;
    static operand_t keys[TOKENS][DIM];
#pragma HLS array_partition variable = keys cyclic factor = HEAD_DIM dim = 2
    static operand_t values[TOKENS][DIM];
#pragma HLS array_partition variable = values cyclic factor = HEAD_DIM dim = 2
    load_rows(scratch, k_word, block.k, keys);
    load_rows(scratch, v_word, block.v, values);
    constexpr int PAIRS = ATTENTION_PARALLEL * HEADS;  // (row, head) pairs of a block

attention_blocks:
    for (int first = 0; first < TOKENS; first += ATTENTION_PARALLEL) {
        wide_t q[ATTENTION_PARALLEL][DIM];
#pragma HLS array_partition variable = q cyclic factor = HEAD_DIM dim = 2
        wide_t scores[ATTENTION_PARALLEL][HEADS][TOKENS];
        RowState state[ATTENTION_PARALLEL][HEADS];
        wide_t inv_sum[ATTENTION_PARALLEL][HEADS];
        wide_t acc[ATTENTION_PARALLEL][DIM];
#pragma HLS array_partition variable = acc cyclic factor = HEAD_DIM dim = 2
        const int rows = TOKENS - first < ATTENTION_PARALLEL ? TOKENS - first : ATTENTION_PARALLEL;
    attention_load_queries:
        for (int p = 0; p < rows; ++p) {
            load_features(scratch, q_word, (first + p) * DIM, DIM, block.q, q[p]);
        }
    attention_key_steps:
        for (int i = 0; i < TOKENS * PAIRS; ++i) {
#pragma HLS pipeline II = 1
            const int step = i / PAIRS, p = (i / HEADS) % ATTENTION_PARALLEL, h = i % HEADS;
            if (p >= rows) continue;
            const int key = (p + step) % TOKENS;  // row first + p starts at key p
            wide_t dot = 0;
        attention_dot:
            for (int d = 0; d < HEAD_DIM; ++d) {
#pragma HLS unroll
                dot += operand_t(q[p][h * HEAD_DIM + d]) * keys[key][h * HEAD_DIM + d];
            }
            const wide_t score = requantize(dot, score_frac, block.scores);
            scores[p][h][key] = score;
            if (step == 0) {
                state[p][h] = {score, one_in_sum(softmax)};
            } else {
                softmax_update(state[p][h], score, block);
            }
        }
    attention_row_stats:
        for (int p = 0; p < rows; ++p) {
        attention_row_stats_heads:
            for (int h = 0; h < HEADS; ++h) {
                inv_sum[p][h] = approx_reciprocal(state[p][h].total, softmax.sum,
                                                  softmax.inv_sum);
            }
        }
    attention_clear:
        for (int p = 0; p < ATTENTION_PARALLEL; ++p) {
        attention_clear_dims:
            for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
                acc[p][d] = 0;
            }
        }
    attention_values:
        for (int i = 0; i < TOKENS * PAIRS; ++i) {
#pragma HLS pipeline II = 1
            const int key = i / PAIRS, p = (i / HEADS) % ATTENTION_PARALLEL, h = i % HEADS;
            if (p >= rows) continue;
            const wide_t e = approx_exp(difference(scores[p][h][key], state[p][h].peak, block),
                                        softmax.diff, softmax.exp);
            const wide_t prob = requantize(e * inv_sum[p][h],
                                           softmax.exp.frac + softmax.inv_sum.frac,
                                           softmax.prob);
        attention_value_dims:
            for (int d = 0; d < HEAD_DIM; ++d) {
#pragma HLS unroll
                acc[p][h * HEAD_DIM + d] += operand_t(prob) * values[key][h * HEAD_DIM + d];
            }
        }
    attention_store:
        for (int p = 0; p < rows; ++p) {
            wide_t out[DIM];
        attention_store_dims:
            for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
                out[d] = requantize(acc[p][d], value_frac, block.attn);
            }
            store_features(scratch, out_word, (first + p) * DIM, DIM, out);
            if (debug) {
            attention_debug_scores:
                for (int h = 0; h < HEADS; ++h) {
                attention_debug_keys:
                    for (int key = 0; key < TOKENS; ++key) {
                        store_feature(scratch, scores_word,
                                      (h * TOKENS + first + p) * TOKENS + key,
                                      scores[p][h][key]);
                    }
                }
            }
        }
    }
}

}  // namespace edgemoe
