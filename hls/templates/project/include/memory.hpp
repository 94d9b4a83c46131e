// Values in DDR: AXI words of AXI_BITS, each holding several lanes.
//
// Feature maps (scratch) hold one value per FEATURE_BITS lane, weights.bin one weight per
// WEIGHT_BITS lane, images one byte per lane; a tensor starts on a word and runs in
// row-major order. Raw values are two's complement in their lane; an unsigned format as
// wide as its lane is read back as unsigned.
#ifndef EDGEMOE_MEMORY_HPP
#define EDGEMOE_MEMORY_HPP

#include "config.hpp"

namespace edgemoe {

inline wide_t from_lane(wide_t raw, int lane_bits, const Format &format) {
    if (!format.is_signed && format.width == lane_bits && raw < 0) {
        return raw + (wide_t(1) << lane_bits);
    }
    return raw;
}

inline wide_t read_weight(const word_t *weights, const Tensor &tensor, unsigned index) {
    const word_t word = weights[tensor.word + index / WEIGHT_LANES];
    const int low = (index % WEIGHT_LANES) * WEIGHT_BITS;
    const weight_t raw = word.range(low + WEIGHT_BITS - 1, low);
    return from_lane(wide_t(raw), WEIGHT_BITS, tensor.format);
}

inline ap_uint<8> read_pixel(const word_t *images, unsigned image_word, unsigned index) {
    const word_t word = images[image_word + index / PIXEL_LANES];
    const int low = (index % PIXEL_LANES) * 8;
    return word.range(low + 7, low);
}

// `count` values starting at element `first` of the feature map at `word`.
inline void load_features(const word_t *scratch, unsigned word, unsigned first, int count,
                          const Format &format, wide_t values[]) {
load_features_values:
    for (int i = 0; i < count; ++i) {
#pragma HLS pipeline II = 1
        const unsigned index = first + i;
        const word_t data = scratch[word + index / FEATURE_LANES];
        const int low = (index % FEATURE_LANES) * FEATURE_BITS;
        const feature_t raw = data.range(low + FEATURE_BITS - 1, low);
        values[i] = from_lane(wide_t(raw), FEATURE_BITS, format);
    }
}

// Writes whole words: `first` and `count` must be multiples of FEATURE_LANES, except at
// the end of a feature map (the rest of its last word is zero).
inline void store_features(word_t *scratch, unsigned word, unsigned first, int count,
                           const wide_t values[]) {
    const int words = (count + FEATURE_LANES - 1) / FEATURE_LANES;
store_features_words:
    for (int w = 0; w < words; ++w) {
#pragma HLS pipeline II = 1
        word_t data = 0;
    store_features_lanes:
        for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
            const int i = w * FEATURE_LANES + lane;
            const feature_t raw = i < count ? feature_t(values[i]) : feature_t(0);
            data.range(lane * FEATURE_BITS + FEATURE_BITS - 1, lane * FEATURE_BITS) = raw;
        }
        scratch[word + first / FEATURE_LANES + w] = data;
    }
}

// Values in a feature map laid out without alignment (scores: HEADS x TOKENS x TOKENS),
// one at a time: only the debug tap writes these.
inline void store_feature(word_t *scratch, unsigned word, unsigned index, wide_t value) {
    word_t data = scratch[word + index / FEATURE_LANES];
    const int low = (index % FEATURE_LANES) * FEATURE_BITS;
    data.range(low + FEATURE_BITS - 1, low) = feature_t(value);
    scratch[word + index / FEATURE_LANES] = data;
}

}  // namespace edgemoe

#endif  // EDGEMOE_MEMORY_HPP
