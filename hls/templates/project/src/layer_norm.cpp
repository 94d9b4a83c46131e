// One-pass LayerNorm: a token's sum and sum of squares in one sweep, exactly; the mean
// and variance from them (times 1/DIM), 1/sqrt(var + eps) by the rsqrt approximation,
// then (x - mean) / std, rounded, and the affine map gamma x + beta, rounded once more.
// The whole feature map comes on chip in one burst and leaves in one; a token's row goes
// through both sweeps a word (FEATURE_LANES values) a cycle.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

static_assert(DIM % WEIGHT_LANES == 0, "a task's gamma and beta rows start on a weight word");

void layer_norm(const word_t *weights, const LayerNormParams &params, const Format &in,
                word_t *scratch, unsigned in_word, unsigned out_word, FeatureSides features,
                unsigned affine_first) {
    constexpr int BLOCKS = DIM / FEATURE_LANES;
    wide_t gamma[DIM], beta[DIM];
#pragma HLS array_partition variable = gamma cyclic factor = FEATURE_LANES
#pragma HLS array_partition variable = beta cyclic factor = FEATURE_LANES
    load_vector<WEIGHT_BITS, DIM>(weights, params.gamma, affine_first, DIM, gamma);
    load_vector<WEIGHT_BITS, DIM>(weights, params.beta, affine_first, DIM, beta);
    load_rows<FEATURE_BITS, TOKENS, BUFFER_WIDTH>(scratch, in_word, TOKENS, DIM, in,
                                                  features[0]);
    const int fx = in.frac;
    // x - mean at the finer of the two precisions
    const int centered_frac = params.mean.frac > fx ? params.mean.frac : fx;
    const int affine_frac = params.normalized.frac + params.gamma.format.frac;
    const int out_frac = affine_frac > params.beta.format.frac ? affine_frac
                                                               : params.beta.format.frac;
layer_norm_tokens:
    for (int t = 0; t < TOKENS; ++t) {
        wide_t total = 0, squares = 0;
    layer_norm_sums:
        for (int b = 0; b < BLOCKS; ++b) {
#pragma HLS pipeline II = 1
        layer_norm_sums_lanes:
            for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
                const wide_t value = feature_value(features[0][t][b * FEATURE_LANES + lane], in);
                total += value;
                squares += operand_t(value) * operand_t(value);
            }
        }
        const int inv_dim_bits = LAYER_NORM_INV_DIM_BITS;
        const wide_t mean = requantize(narrow<ln_total_t>(total) * inv_dim_t(LAYER_NORM_INV_DIM),
                                       fx + inv_dim_bits, params.mean);
        const wide_t mean_of_squares = requantize(
            narrow<ln_squares_t>(squares) * inv_dim_t(LAYER_NORM_INV_DIM), 2 * fx + inv_dim_bits,
            params.var);
        const wide_t mean_squared = requantize(narrow<ln_mean_t>(mean) * narrow<ln_mean_t>(mean),
                                               2 * params.mean.frac, params.var);
        wide_t variance = mean_of_squares - mean_squared;
        if (variance < 0) variance = 0;
        variance = requantize(variance + wide_t(params.eps), params.var.frac, params.var);
        const wide_t inv_std = approx_rsqrt(variance, params.var, params.inv_std);
    layer_norm_normalize:
        for (int b = 0; b < BLOCKS; ++b) {
#pragma HLS pipeline II = 1
        layer_norm_normalize_lanes:
            for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
                const int d = b * FEATURE_LANES + lane;
                const wide_t value = feature_value(features[0][t][d], in);
                const wide_t centered = (value << (centered_frac - fx))
                                        - (mean << (centered_frac - params.mean.frac));
                const wide_t normalized = requantize(
                    narrow<ln_centered_t>(centered) * narrow<ln_inv_std_t>(inv_std),
                    centered_frac + params.inv_std.frac, params.normalized);
                const wide_t product =
                    narrow<ln_normalized_t>(normalized) * narrow<ln_gamma_t>(gamma[d]);
                const wide_t affine = (product << (out_frac - affine_frac))
                                      + (beta[d] << (out_frac - params.beta.format.frac));
                features[1][t][d] = feature_t(requantize(affine, out_frac, params.out));
            }
        }
    }
    store_rows<TOKENS, BUFFER_WIDTH>(scratch, out_word, TOKENS, DIM, features[1]);
}

}  // namespace edgemoe
