// The unified linear unit: every projection, MLP and expert layer runs here.
//
// A layer's weights are loaded on chip once (a word of WEIGHT_LANES a cycle) into a
// LayerWeights buffer; then rows stream in (hls::stream), through a TILE_IN x TILE_OUT
// array of multipliers, and out. Products and their sums are exact; bias and residual join
// the sum at its own precision, and the result is rounded once (or cast to the GELU's
// input and passed through the GELU). Over DDR feature maps the three stages (read rows,
// compute, write rows) form a dataflow region, so they overlap.
#include <hls_stream.h>

#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

static_assert(MAX_ROW % TILE_IN == 0 && MAX_ROW % TILE_OUT == 0,
              "rows must be whole linear tiles");

void load_layer(const word_t *weights, const LinearLayer &layer, LayerWeights &buffer) {
    const Tensor &tensor = *layer.weight;
    const unsigned first = layer.offset_rows * layer.in_dim;  // the layer's first weight
    const int count = layer.out_dim * layer.in_dim;
    const unsigned first_word = first / WEIGHT_LANES;
    const int words = int((first % WEIGHT_LANES + count + WEIGHT_LANES - 1) / WEIGHT_LANES);
load_layer_words:
    for (int w = 0; w < words; ++w) {
#pragma HLS loop_tripcount min = 1 max = MAX_LAYER_WEIGHTS / WEIGHT_LANES
#pragma HLS pipeline II = 1
        std::uint64_t pieces[PIECES];
        unpack(weights[tensor.word + first_word + w], pieces);
    load_layer_lanes:
        for (int lane = 0; lane < WEIGHT_LANES; ++lane) {
#pragma HLS unroll
            const int k = int((first_word + w) * WEIGHT_LANES + lane) - int(first);
            if (k >= 0 && k < count) {
                const wide_t raw = lane_value(pieces, lane, WEIGHT_BITS, tensor.format);
                buffer.weights[weight_index(k / layer.in_dim, k % layer.in_dim,
                                            layer.in_dim)] = weight_t(raw);
            }
        }
    }
    load_weights(weights, *layer.bias, layer.offset_rows, layer.out_dim, buffer.bias);
}

namespace {

// The exact sum's precision: enough fraction bits for every term joining it.
int sum_frac(const LinearLayer &layer, const Format &in, const LinearOutput &output) {
    int frac = in.frac + layer.weight->format.frac;
    if (layer.bias->format.frac > frac) frac = layer.bias->format.frac;
    if (output.residual_format != nullptr && output.residual_format->frac > frac) {
        frac = output.residual_format->frac;
    }
    return frac;
}

// One row: x W^T + b (+ residual) exactly, then the single rounding (or GELU).
void compute_row(const LayerWeights &buffer, const LinearLayer &layer, const Format &in,
                 const feature_t x[MAX_ROW], const wide_t residual[MAX_ROW],
                 const LinearOutput &output, wide_t out[MAX_ROW]) {
    const int frac = sum_frac(layer, in, output);
    const int product_shift = frac - (in.frac + layer.weight->format.frac);
    const Format &b = layer.bias->format;
compute_row_out_tiles:
    for (int o0 = 0; o0 < layer.out_dim; o0 += TILE_OUT) {
#pragma HLS loop_tripcount min = 1 max = MAX_ROW / TILE_OUT
        wide_t acc[TILE_OUT];
#pragma HLS array_partition variable = acc complete
    compute_row_clear:
        for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
            acc[o] = 0;
        }
    compute_row_in_tiles:
        for (int i0 = 0; i0 < layer.in_dim; i0 += TILE_IN) {
#pragma HLS loop_tripcount min = 1 max = MAX_ROW / TILE_IN
#pragma HLS pipeline II = 1
        compute_row_mac_out:
            for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
            compute_row_mac_in:
                for (int i = 0; i < TILE_IN; ++i) {
#pragma HLS unroll
                    acc[o] += x[i0 + i] * buffer.weights[weight_index(o0 + o, i0 + i, layer.in_dim)];
                }
            }
        }
    compute_row_finish:
        for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS pipeline II = 1
            const int column = o0 + o;
            wide_t sum = (acc[o] << product_shift) + (buffer.bias[column] << (frac - b.frac));
            if (output.residual_format != nullptr) {
                sum += residual[column] << (frac - output.residual_format->frac);
            }
            if (output.gelu_in != nullptr) {
                const wide_t pre = requantize(sum, frac, *output.gelu_in);
                out[column] = approx_gelu(pre, *output.gelu_in, *output.out);
            } else {
                out[column] = requantize(sum, frac, *output.out);
            }
        }
    }
}

// ---------------------------------------------------------------- over DDR feature maps
void read_rows(const word_t *scratch, unsigned in_word, const Format &in, int in_dim,
               unsigned residual_word, const Format *residual_format, int out_dim,
               hls::stream<wide_t> &rows, hls::stream<wide_t> &residuals) {
read_rows_tokens:
    for (int t = 0; t < TOKENS; ++t) {
        wide_t row[MAX_ROW];
        load_features(scratch, in_word, t * in_dim, in_dim, in, row);
    read_rows_push:
        for (int i = 0; i < in_dim; ++i) {
#pragma HLS pipeline II = 1
            rows.write(row[i]);
        }
        if (residual_format != nullptr) {
            load_features(scratch, residual_word, t * out_dim, out_dim, *residual_format, row);
        read_rows_push_residual:
            for (int o = 0; o < out_dim; ++o) {
#pragma HLS pipeline II = 1
                residuals.write(row[o]);
            }
        }
    }
}

void compute_rows(const LayerWeights &buffer, const LinearLayer &layer, const Format &in,
                  const LinearOutput &output, hls::stream<wide_t> &rows,
                  hls::stream<wide_t> &residuals, hls::stream<wide_t> &results) {
compute_rows_tokens:
    for (int t = 0; t < TOKENS; ++t) {
        feature_t x[MAX_ROW];
#pragma HLS array_partition variable = x cyclic factor = TILE_IN
        wide_t residual[MAX_ROW], out[MAX_ROW];
    compute_rows_pop:
        for (int i = 0; i < layer.in_dim; ++i) {
#pragma HLS pipeline II = 1
            x[i] = feature_t(rows.read());
        }
        if (output.residual_format != nullptr) {
        compute_rows_pop_residual:
            for (int o = 0; o < layer.out_dim; ++o) {
#pragma HLS pipeline II = 1
                residual[o] = residuals.read();
            }
        }
        compute_row(buffer, layer, in, x, residual, output, out);
    compute_rows_push:
        for (int o = 0; o < layer.out_dim; ++o) {
#pragma HLS pipeline II = 1
            results.write(out[o]);
        }
    }
}

void write_rows(word_t *scratch, unsigned out_word, int out_dim,
                hls::stream<wide_t> &results) {
write_rows_tokens:
    for (int t = 0; t < TOKENS; ++t) {
        wide_t row[MAX_ROW];
    write_rows_pop:
        for (int o = 0; o < out_dim; ++o) {
#pragma HLS pipeline II = 1
            row[o] = results.read();
        }
        store_features(scratch, out_word, t * out_dim, out_dim, row);
    }
}

// Read, compute and write overlap: each stage works on a row while the next takes the one
// before it.
void stream_layer(const LayerWeights &buffer, const LinearLayer &layer, word_t *scratch,
                  unsigned in_word, const Format &in, unsigned out_word,
                  const LinearOutput &output, unsigned residual_word) {
#pragma HLS dataflow
    hls::stream<wide_t> rows("rows"), residuals("residuals"), results("results");
#pragma HLS stream variable = rows depth = MAX_ROW
#pragma HLS stream variable = residuals depth = MAX_ROW
#pragma HLS stream variable = results depth = MAX_ROW
    read_rows(scratch, in_word, in, layer.in_dim, residual_word, output.residual_format,
              layer.out_dim, rows, residuals);
    compute_rows(buffer, layer, in, output, rows, residuals, results);
    write_rows(scratch, out_word, layer.out_dim, results);
}

}  // namespace

void linear_rows(const LayerWeights &buffer, const LinearLayer &layer, const wide_t in_rows[],
                 const Format &in, int count, const wide_t residual_rows[],
                 const LinearOutput &output, wide_t out_rows[]) {
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
        compute_row(buffer, layer, in, x,
                    residual_rows == nullptr ? nullptr : &residual_rows[r * layer.out_dim],
                    output, &out_rows[r * layer.out_dim]);
    }
}

void linear(const word_t *weights, const LinearLayer &layer, word_t *scratch,
            unsigned in_word, const Format &in, unsigned out_word, const LinearOutput &output,
            unsigned residual_word) {
    static LayerWeights buffer;
#pragma HLS array_partition variable = buffer.weights cyclic factor = TILE_WEIGHTS
    load_layer(weights, layer, buffer);
    stream_layer(buffer, layer, scratch, in_word, in, out_word, output, residual_word);
}

}  // namespace edgemoe
