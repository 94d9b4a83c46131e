// The unified linear unit: every projection, MLP and expert layer runs here.
//
// A layer's weights are loaded on chip once (WEIGHT_LANES per AXI word), then every row
// streams through a TILE_IN x TILE_OUT array of multipliers. Products and their sums are
// exact; bias and residual join the sum at its own precision, and the result is rounded
// once (or cast to the GELU's input and passed through the GELU).
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

namespace {

constexpr int MAX_WEIGHTS = DIM * MAX_HIDDEN;  // the largest layer: DIM x hidden

static_assert(MAX_ROW % TILE_IN == 0 && MAX_ROW % TILE_OUT == 0,
              "rows must be whole linear tiles");

void load_layer(const word_t *weights, const LinearLayer &layer, weight_t buffer[MAX_WEIGHTS],
                wide_t bias[MAX_ROW]) {
    static wide_t values[MAX_WEIGHTS];
    const int count = layer.out_dim * layer.in_dim;
    load_weights(weights, *layer.weight, layer.offset_rows * layer.in_dim, count, values);
load_layer_weights:
    for (int i = 0; i < count; ++i) {
#pragma HLS loop_tripcount min = 1 max = MAX_WEIGHTS
#pragma HLS pipeline II = 1
        buffer[i] = weight_t(values[i]);
    }
    load_weights(weights, *layer.bias, layer.offset_rows, layer.out_dim, bias);
}

}  // namespace

void linear_rows(const word_t *weights, const LinearLayer &layer, const wide_t in_rows[],
                 const Format &in, int count, const LinearOutput &output, wide_t out_rows[]) {
    static weight_t buffer[MAX_WEIGHTS];
#pragma HLS array_partition variable = buffer cyclic factor = TILE_IN
    wide_t bias[MAX_ROW];
    load_layer(weights, layer, buffer, bias);

    const Format &w = layer.weight->format;
    const Format &b = layer.bias->format;
    // The exact sum's precision: enough fraction bits for every term joining it.
    int frac = in.frac + w.frac;
    if (b.frac > frac) frac = b.frac;
    if (output.residual != nullptr && output.residual_format->frac > frac) {
        frac = output.residual_format->frac;
    }
    const int product_shift = frac - (in.frac + w.frac);

linear_rows_tokens:
    for (int r = 0; r < count; ++r) {
#pragma HLS loop_tripcount min = 1 max = TOKENS
        feature_t x[MAX_ROW];  // a row in its lanes: the multipliers are FEATURE_BITS wide
#pragma HLS array_partition variable = x cyclic factor = TILE_IN
    linear_rows_load_row:
        for (int i = 0; i < layer.in_dim; ++i) {
#pragma HLS pipeline II = 1
            x[i] = feature_t(in_rows[r * layer.in_dim + i]);
        }
    linear_rows_out_tiles:
        for (int o0 = 0; o0 < layer.out_dim; o0 += TILE_OUT) {
#pragma HLS loop_tripcount min = 1 max = MAX_ROW / TILE_OUT
            wide_t acc[TILE_OUT];
#pragma HLS array_partition variable = acc complete
        linear_rows_clear:
            for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
                acc[o] = 0;
            }
        linear_rows_in_tiles:
            for (int i0 = 0; i0 < layer.in_dim; i0 += TILE_IN) {
#pragma HLS loop_tripcount min = 1 max = MAX_ROW / TILE_IN
#pragma HLS pipeline II = 1
            linear_rows_mac_out:
                for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
                linear_rows_mac_in:
                    for (int i = 0; i < TILE_IN; ++i) {
#pragma HLS unroll
                        acc[o] += x[i0 + i] * buffer[(o0 + o) * layer.in_dim + i0 + i];
                    }
                }
            }
        linear_rows_finish:
            for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS pipeline II = 1
                const int column = o0 + o;
                wide_t sum = (acc[o] << product_shift) + (bias[column] << (frac - b.frac));
                if (output.residual != nullptr) {
                    sum += output.residual[r * layer.out_dim + column]
                           << (frac - output.residual_format->frac);
                }
                wide_t result;
                if (output.gelu_in != nullptr) {
                    const wide_t pre = requantize(sum, frac, *output.gelu_in);
                    result = approx_gelu(pre, *output.gelu_in, *output.out);
                } else {
                    result = requantize(sum, frac, *output.out);
                }
                out_rows[r * layer.out_dim + column] = result;
            }
        }
    }
}

void linear(const word_t *weights, const LinearLayer &layer, word_t *scratch,
            unsigned in_word, const Format &in, unsigned out_word, const LinearOutput &output,
            unsigned residual_word) {
    static wide_t in_rows[TOKENS * MAX_ROW];
    static wide_t out_rows[TOKENS * MAX_ROW];
    static wide_t residual_rows[TOKENS * MAX_ROW];
    load_features(scratch, in_word, 0, TOKENS * layer.in_dim, in, in_rows);
    LinearOutput with_rows = output;
    if (output.residual_format != nullptr) {
        load_features(scratch, residual_word, 0, TOKENS * layer.out_dim,
                      *output.residual_format, residual_rows);
        with_rows.residual = residual_rows;
    }
    linear_rows(weights, layer, in_rows, in, TOKENS, with_rows, out_rows);
    store_features(scratch, out_word, 0, TOKENS * layer.out_dim, out_rows);
}

}  // namespace edgemoe
