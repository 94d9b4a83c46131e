// The unified linear unit: every projection, MLP and expert layer and the patch embedding
// run here.
//
// The rows stay on chip and the weights stream past them. A layer's W (out_dim x in_dim,
// row-major in DDR) arrives a strip of TILE_OUT rows at a time, a word of WEIGHT_LANES a
// cycle; while one strip meets every row (TILE_IN inputs x TILE_OUT outputs a cycle), the
// next strip fills the other half of a ping/pong buffer, so a layer costs the larger of
// its MACs and its weight traffic. Products and their sums are exact; bias and residual
// join the sum at its own precision, and each result is rounded once (or cast to the
// GELU's input and passed through the GELU), TILE_OUT results a cycle.
#include <hls_stream.h>

#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

static_assert(DIM % WEIGHT_LANES == 0 && MAX_HIDDEN % WEIGHT_LANES == 0
                  && EXPERT_HIDDEN % WEIGHT_LANES == 0 && PATCH_INPUTS % WEIGHT_LANES == 0,
              "a weight row must be whole AXI words");
static_assert(MAX_INPUTS % TILE_IN == 0 && MAX_OUTPUTS % TILE_OUT == 0,
              "rows must be whole linear tiles");

namespace {

constexpr int MAX_STRIP_WORDS = TILE_OUT * MAX_INPUTS / WEIGHT_LANES;

// The exact sum's precision: enough fraction bits for every term joining it.
int sum_frac(const LinearLayer &layer, const Format &in, const LinearOutput &output) {
    int frac = in.frac + layer.weight->format.frac;
    if (layer.bias->format.frac > frac) frac = layer.bias->format.frac;
    if (output.residual_format != nullptr && output.residual_format->frac > frac) {
        frac = output.residual_format->frac;
    }
    return frac;
}

// The layer's weights in DDR order, one AXI word a cycle (a burst per layer).
void stream_weights(const word_t *weights, const LinearLayer &layer,
                    hls::stream<word_t> &words) {
    const unsigned first = layer.weight->word + layer.offset_rows * layer.in_dim / WEIGHT_LANES;
    const int count = layer.out_dim * layer.in_dim / WEIGHT_LANES;
stream_weights_words:
    for (int w = 0; w < count; ++w) {
#pragma HLS loop_tripcount min = 1 max = MAX_OUTPUTS * MAX_INPUTS / WEIGHT_LANES
#pragma HLS pipeline II = 1
        words.write(weights[first + w]);
    }
}

// Word `k` of a strip (its rows one after another) into the strip's buffer.
void place_strip_word(const word_t &word, int k, int in_dim, const Format &format,
                      weight_t strip[TILE_OUT][MAX_INPUTS]) {
    const int words_per_row = in_dim / WEIGHT_LANES;
    const int o = k / words_per_row, base = (k % words_per_row) * WEIGHT_LANES;
    std::uint64_t pieces[PIECES];
    unpack(word, pieces);
place_strip_lanes:
    for (int lane = 0; lane < WEIGHT_LANES; ++lane) {
#pragma HLS unroll
        strip[o][base + lane] = weight_t(lane_value(pieces, lane, WEIGHT_BITS, format));
    }
}

// The rows through the layer, strip after strip (see the file's comment).
void multiply_strips(hls::stream<word_t> &words, const LinearLayer &layer, const Format &in,
                     const wide_t bias[MAX_OUTPUTS], const feature_t x[], int count,
                     const feature_t residual[], const LinearOutput &output, feature_t out[]) {
    weight_t strip[2][TILE_OUT][MAX_INPUTS];  // ping/pong
#pragma HLS array_partition variable = strip complete dim = 1
#pragma HLS array_partition variable = strip complete dim = 2
#pragma HLS array_reshape variable = strip cyclic factor = TILE_IN dim = 3
#pragma HLS bind_storage variable = strip type = ram_s2p impl = lutram
    wide_t acc[TOKENS][TILE_OUT];
#pragma HLS array_partition variable = acc complete dim = 2
    const Format &w = layer.weight->format;
    const int frac = sum_frac(layer, in, output);
    const int product_shift = frac - (in.frac + w.frac);
    const Format &b = layer.bias->format;
    const int strip_words = TILE_OUT * layer.in_dim / WEIGHT_LANES;
    const int steps = layer.in_dim / TILE_IN;
    // a row's accumulators come round again after `rows` cycles: never sooner than the
    // adder's latency
    const int rows = count < MIN_MAC_ROWS ? MIN_MAC_ROWS : count;
    const int strips = layer.out_dim / TILE_OUT;

multiply_strips_first:
    for (int k = 0; k < strip_words; ++k) {
#pragma HLS loop_tripcount min = 1 max = MAX_STRIP_WORDS
#pragma HLS pipeline II = 1
        place_strip_word(words.read(), k, layer.in_dim, w, strip[0]);
    }
multiply_strips_strips:
    for (int s = 0; s < strips; ++s) {
#pragma HLS loop_tripcount min = 1 max = MAX_OUTPUTS / TILE_OUT
        const int now = s % 2;
        const int next_words = s + 1 < strips ? strip_words : 0;
        const int macs = steps * rows;
        const int cycles = macs > next_words ? macs : next_words;
    multiply_strips_steps:
        for (int k = 0; k < cycles; ++k) {
#pragma HLS loop_tripcount min = MIN_MAC_ROWS max = MAX_INPUTS / TILE_IN * TOKENS
#pragma HLS pipeline II = 1
#pragma HLS dependence variable = acc type = inter direction = RAW distance = MIN_MAC_ROWS true
#pragma HLS dependence variable = strip type = inter false
            if (k < next_words) place_strip_word(words.read(), k, layer.in_dim, w, strip[1 - now]);
            const int step = k / rows, r = k % rows;
            if (k < macs && r < count) {
            multiply_strips_outputs:
                for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
                    wide_t sum = 0;
                multiply_strips_inputs:
                    for (int i = 0; i < TILE_IN; ++i) {
#pragma HLS unroll
                        const int column = step * TILE_IN + i;
                        sum += x[r * layer.in_dim + column] * strip[now][o][column];
                    }
                    acc[r][o] = (step == 0 ? wide_t(0) : acc[r][o]) + sum;
                }
            }
        }
    multiply_strips_finish:
        for (int r = 0; r < count; ++r) {
#pragma HLS loop_tripcount min = 1 max = TOKENS
#pragma HLS pipeline II = 1
        multiply_strips_finish_outputs:
            for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
                const int column = s * TILE_OUT + o;
                wide_t sum = (acc[r][o] << product_shift) + (bias[column] << (frac - b.frac));
                if (output.residual_format != nullptr) {
                    const Format &f = *output.residual_format;
                    const wide_t value = feature_value(residual[r * layer.out_dim + column], f);
                    sum += value << (frac - f.frac);
                }
                wide_t result;
                if (output.gelu_in != nullptr) {
                    const wide_t pre = requantize(sum, frac, *output.gelu_in);
                    result = approx_gelu(pre, *output.gelu_in, *output.out);
                } else {
                    result = requantize(sum, frac, *output.out);
                }
                out[r * layer.out_dim + column] = feature_t(result);
            }
        }
    }
}

// Weights stream in while the strips before them multiply.
void stream_and_multiply(const word_t *weights, const LinearLayer &layer, const Format &in,
                         const wide_t bias[MAX_OUTPUTS], const feature_t x[], int count,
                         const feature_t residual[], const LinearOutput &output,
                         feature_t out[]) {
#pragma HLS dataflow
    hls::stream<word_t> words("weight_words");
#pragma HLS stream variable = words depth = MAX_STRIP_WORDS
    stream_weights(weights, layer, words);
    multiply_strips(words, layer, in, bias, x, count, residual, output, out);
}

}  // namespace

void linear_rows(const word_t *weights, const LinearLayer &layer, const Format &in,
                 const feature_t x[], int count, const feature_t residual[],
                 const LinearOutput &output, feature_t out[]) {
    wide_t bias[MAX_OUTPUTS];
#pragma HLS array_partition variable = bias cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = bias type = ram_2p impl = lutram
    load_weights(weights, *layer.bias, layer.offset_rows, layer.out_dim, bias);
    stream_and_multiply(weights, layer, in, bias, x, count, residual, output, out);
}

void linear(const word_t *weights, const LinearLayer &layer, word_t *scratch,
            unsigned in_word, const Format &in, unsigned out_word, const LinearOutput &output,
            unsigned residual_word) {
    static feature_t x[TOKENS * MAX_INPUTS];
#pragma HLS array_reshape variable = x cyclic factor = TILE_IN
#pragma HLS bind_storage variable = x type = ram_2p impl = uram
    static feature_t residual[TOKENS * DIM];
#pragma HLS array_reshape variable = residual cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = residual type = ram_2p impl = uram
    static feature_t out[TOKENS * MAX_OUTPUTS];
#pragma HLS array_reshape variable = out cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = out type = ram_2p impl = uram
    load_features(scratch, in_word, 0, TOKENS * layer.in_dim, in, x);
    const bool has_residual = output.residual_format != nullptr;
    if (has_residual) {
        load_features(scratch, residual_word, 0, TOKENS * layer.out_dim, *output.residual_format,
                      residual);
    }
    linear_rows(weights, layer, in, x, TOKENS, has_residual ? residual : nullptr, output, out);
    store_features(scratch, out_word, 0, TOKENS * layer.out_dim, out);
}

}  // namespace edgemoe
