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
constexpr int MAX_STRIPS = MAX_OUTPUTS / TILE_OUT;
constexpr int MAX_PORT_STRIPS = (MAX_STRIPS + 1) / 2;
constexpr int MAX_STEP_CYCLES = MAX_INPUTS / TILE_IN * (TOKENS > MIN_MAC_ROWS ? TOKENS
                                                                              : MIN_MAC_ROWS);

// The exact sum's precision: enough fraction bits for every term joining it.
int sum_frac(const LinearLayer &layer, const Format &in, const LinearOutput &output) {
#pragma HLS inline
    int frac = in.frac + layer.weight.format.frac;
    if (layer.bias.format.frac > frac) frac = layer.bias.format.frac;
    if (output.residual && output.residual_format.frac > frac) frac = output.residual_format.frac;
    return frac;
}

// One port's strips of the layer (every other strip, from `parity` on), each a burst of
// its words in DDR order, one AXI word a cycle into `words`.
void stream_strips(const word_t *memory, LinearLayer layer, int parity,
                   hls::stream<word_t> &words) {
#pragma HLS inline
    const unsigned first = layer.weight.word + layer.offset_rows * layer.in_dim / WEIGHT_LANES;
    const int strip_words = TILE_OUT * layer.in_dim / WEIGHT_LANES;
    const int strips = layer.out_dim / TILE_OUT;
stream_strips_strips:
    for (int s = parity; s < strips; s += 2) {
#pragma HLS loop_tripcount min = 1 max = MAX_PORT_STRIPS
        const unsigned start = first + unsigned(s * strip_words);
    stream_strips_words:
        for (int w = 0; w < strip_words; ++w) {
#pragma HLS loop_tripcount min = 1 max = MAX_STRIP_WORDS
#pragma HLS pipeline II = 1
            words.write(memory[start + w]);
        }
    }
}

// The even strips through the weights' port, the odd ones through the mirror's.
void stream_even_strips(const word_t *weights, LinearLayer layer, hls::stream<word_t> &words) {
    stream_strips(weights, layer, 0, words);
}

void stream_odd_strips(const word_t *weights_mirror, LinearLayer layer,
                       hls::stream<word_t> &words) {
    stream_strips(weights_mirror, layer, 1, words);
}

// A strip's words in order into its buffer: the word's row `o` and its first column
// `base` advance as counters (a row is in_dim / WEIGHT_LANES words).
struct StripCursor {
    int o, base;
};

void place_strip_word(const word_t &word, StripCursor &at, int in_dim, const Format &format,
                      weight_t strip[TILE_OUT][MAX_INPUTS]) {
#pragma HLS inline
    word_to_lanes<WEIGHT_BITS>(word, format, strip[at.o], at.base);
    at.base += WEIGHT_LANES;
    if (at.base == in_dim) {
        at.base = 0;
        ++at.o;
    }
}

// The rows through the layer, strip after strip (see the file's comment).
void multiply_strips(hls::stream<word_t> &even_words, hls::stream<word_t> &odd_words,
                     LinearLayer layer, Format in,
                     const wide_t bias[MAX_OUTPUTS], FeatureSides features, int source,
                     int count, const FeatureRows rows, LinearOutput output) {
    weight_t strip[2][TILE_OUT][MAX_INPUTS];  // ping/pong
#pragma HLS array_partition variable = strip complete dim = 1
#pragma HLS array_partition variable = strip complete dim = 2
#pragma HLS array_reshape variable = strip cyclic factor = TILE_IN dim = 3
#pragma HLS bind_storage variable = strip type = ram_s2p impl = lutram
    linear_sum_t acc[TOKENS][TILE_OUT];
#pragma HLS array_partition variable = acc complete dim = 2
    const Format &w = layer.weight.format;
    const int frac = sum_frac(layer, in, output);
    const int product_shift = frac - (in.frac + w.frac);
    const Format &b = layer.bias.format;
    const int strip_words = TILE_OUT * layer.in_dim / WEIGHT_LANES;
    const int steps = layer.in_dim / TILE_IN;
    // a row's accumulators come round again after `cycle_rows` cycles: never sooner than
    // the adder's latency
    const int cycle_rows = count < MIN_MAC_ROWS ? MIN_MAC_ROWS : count;
    const int strips = layer.out_dim / TILE_OUT;
    const int target = 1 - source;

    StripCursor first_at = {0, 0};
multiply_strips_first:
    for (int k = 0; k < strip_words; ++k) {
#pragma HLS loop_tripcount min = 1 max = MAX_STRIP_WORDS
#pragma HLS pipeline II = 1
        place_strip_word(even_words.read(), first_at, layer.in_dim, w, strip[0]);
    }
    int now = 0;  // the ping/pong half the current strip is in; the next strip is odd when
                  // the current one is even
multiply_strips_strips:
    for (int s = 0; s < strips; ++s) {
#pragma HLS loop_tripcount min = 1 max = MAX_STRIPS
        const int next_words = s + 1 < strips ? strip_words : 0;
        const int macs = steps * cycle_rows;
        const int cycles = macs > next_words ? macs : next_words;
        StripCursor next_at = {0, 0};
        int step = 0, r = 0;
    multiply_strips_steps:
        for (int k = 0; k < cycles; ++k) {
#pragma HLS loop_tripcount min = MIN_MAC_ROWS max = MAX_STEP_CYCLES
#pragma HLS pipeline II = 1
#pragma HLS dependence variable = acc type = inter direction = RAW distance = MIN_MAC_ROWS true
#pragma HLS dependence variable = strip type = inter false
            if (k < next_words) {
                const word_t word = now == 0 ? odd_words.read() : even_words.read();
                place_strip_word(word, next_at, layer.in_dim, w, strip[1 - now]);
            }
            if (k < macs && r < count) {
            multiply_strips_outputs:
                for (int o = 0; o < TILE_OUT; ++o) {
#pragma HLS unroll
                    const linear_sum_t sum = dot_product<linear_sum_t, TILE_IN>(
                        features[source][r], strip[now][o], step * TILE_IN);
                    acc[r][o] = (step == 0 ? linear_sum_t(0) : acc[r][o]) + sum;
                }
            }
            if (++r == cycle_rows) {
                r = 0;
                ++step;
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
                wide_t sum = (wide_t(acc[r][o]) << product_shift)
                             + (bias[column] << (frac - b.frac));
                if (output.residual) {
                    const Format &f = output.residual_format;
                    sum += feature_value(rows[r][column], f) << (frac - f.frac);
                }
                wide_t result;
                if (output.gelu) {
                    const wide_t pre = requantize(sum, frac, output.gelu_in);
                    result = approx_gelu(pre, output.gelu_in, output.out);
                } else {
                    result = requantize(sum, frac, output.out);
                }
                features[target][r][column] = feature_t(result);
            }
        }
        now = 1 - now;
    }
}

// Weights stream in, the two ports taking turns strip by strip, while the strips before
// them multiply.
void stream_and_multiply(const word_t *weights, const word_t *weights_mirror,
                         LinearLayer layer, Format in, const wide_t bias[MAX_OUTPUTS],
                         FeatureSides features, int source, int count, const FeatureRows rows,
                         LinearOutput output) {
#pragma HLS dataflow
    hls::stream<word_t> even_words("even_strip_words");
#pragma HLS stream variable = even_words depth = MAX_STRIP_WORDS
    hls::stream<word_t> odd_words("odd_strip_words");
#pragma HLS stream variable = odd_words depth = MAX_STRIP_WORDS
    stream_even_strips(weights, layer, even_words);
    stream_odd_strips(weights_mirror, layer, odd_words);
    multiply_strips(even_words, odd_words, layer, in, bias, features, source, count, rows,
                    output);
}

}  // namespace

void linear_rows(const word_t *weights, const word_t *weights_mirror, LinearLayer layer,
                 Format in, FeatureSides features, int source, int count,
                 const FeatureRows rows, LinearOutput output) {
    wide_t bias[MAX_OUTPUTS];
#pragma HLS array_partition variable = bias cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = bias type = ram_2p impl = lutram
    load_vector<FEATURE_BITS, MAX_OUTPUTS>(weights, layer.bias, layer.offset_rows, layer.out_dim,
                                           bias);
    stream_and_multiply(weights, weights_mirror, layer, in, bias, features, source, count, rows,
                        output);
}

void linear(const word_t *weights, const word_t *weights_mirror, const LinearLayer &layer,
            word_t *scratch, unsigned in_word, const Format &in, unsigned out_word,
            const LinearOutput &output, unsigned residual_word, FeatureSides features,
            FeatureRows rows) {
#pragma HLS inline
    load_rows<FEATURE_BITS, TOKENS, BUFFER_WIDTH>(scratch, in_word, TOKENS, layer.in_dim, in,
                                                  features[0]);
    if (output.residual) {
        load_rows<FEATURE_BITS, TOKENS, BUFFER_WIDTH>(scratch, residual_word, TOKENS,
                                                      layer.out_dim, output.residual_format,
                                                      rows);
    }
    linear_rows(weights, weights_mirror, layer, in, features, 0, TOKENS, rows, output);
    store_rows<TOKENS, BUFFER_WIDTH>(scratch, out_word, TOKENS, layer.out_dim, features[1]);
}

}  // namespace edgemoe
