// Values in DDR: AXI words of AXI_BITS, each holding several lanes, moved a word a cycle.
//
// Feature maps (scratch) hold one value per FEATURE_BITS lane, weights.bin one weight per
// WEIGHT_BITS lane, images one byte per lane; a tensor starts on a word and runs in
// row-major order. Raw values are two's complement in their lane; an unsigned format as
// wide as its lane is read back as unsigned.
#ifndef EDGEMOE_MEMORY_HPP
#define EDGEMOE_MEMORY_HPP

#include <cstdint>

#include "config.hpp"

namespace edgemoe {

inline wide_t from_lane(wide_t raw, int lane_bits, const Format &format) {
    if (!format.is_signed && format.width == lane_bits && raw < 0) {
        return raw + (wide_t(1) << lane_bits);
    }
    return raw;
}

// An AXI word as 64-bit pieces and back: lanes are unpacked with native shifts (one
// ap_uint<AXI_BITS> range access per piece, not one per lane).
constexpr int PIECES = AXI_BITS / 64;

inline void unpack(const word_t &word, std::uint64_t pieces[PIECES]) {
unpack_pieces:
    for (int p = 0; p < PIECES; ++p) {
#pragma HLS unroll
        pieces[p] = word.range(64 * p + 63, 64 * p).to_uint64();
    }
}

inline word_t pack(const std::uint64_t pieces[PIECES]) {
    word_t word = 0;
pack_pieces:
    for (int p = 0; p < PIECES; ++p) {
#pragma HLS unroll
        word.range(64 * p + 63, 64 * p) = pieces[p];
    }
    return word;
}

// Lane `lane` of `bits` bits (bits divides 64), sign-extended.
inline wide_t lane_of(const std::uint64_t pieces[PIECES], int lane, int bits) {
    const int per_piece = 64 / bits;
    const std::uint64_t raw = (pieces[lane / per_piece] >> ((lane % per_piece) * bits));
    const std::int64_t shifted = std::int64_t(raw << (64 - bits));
    return wide_t(shifted >> (64 - bits));
}

// The value in lane `lane` (of `bits` bits) of an unpacked word, read in `format`.
inline wide_t lane_value(const std::uint64_t pieces[PIECES], int lane, int bits,
                         const Format &format) {
    return from_lane(lane_of(pieces, lane, bits), bits, format);
}

// `count` values from element `first` of the values packed `BITS` to a lane from `word` on,
// read in `format`: a whole word a cycle, each lane to its own element of `values`.
template <int BITS, typename T>
void load_lanes(const word_t *memory, unsigned word, unsigned first, int count,
                const Format &format, T values[]) {
    constexpr int LANES = AXI_BITS / BITS;
    const unsigned first_word = first / LANES;
    const int words = int((first % LANES + count + LANES - 1) / LANES);
load_lanes_words:
    for (int w = 0; w < words; ++w) {
#pragma HLS pipeline II = 1
        std::uint64_t pieces[PIECES];
        unpack(memory[word + first_word + w], pieces);
    load_lanes_lanes:
        for (int lane = 0; lane < LANES; ++lane) {
#pragma HLS unroll
            const int i = int((first_word + w) * LANES + lane) - int(first);
            if (i >= 0 && i < count) values[i] = T(lane_value(pieces, lane, BITS, format));
        }
    }
}

// `count` values of a tensor in weights.bin from its element `first`.
template <typename T>
void load_weights(const word_t *weights, const Tensor &tensor, unsigned first, int count,
                  T values[]) {
    load_lanes<WEIGHT_BITS>(weights, tensor.word, first, count, tensor.format, values);
}

// `count` values starting at element `first` of the feature map at `word`.
template <typename T>
void load_features(const word_t *scratch, unsigned word, unsigned first, int count,
                   const Format &format, T values[]) {
    load_lanes<FEATURE_BITS>(scratch, word, first, count, format, values);
}

// A value held in a feature lane (feature_t) read back in its format.
inline wide_t feature_value(const feature_t &raw, const Format &format) {
    return from_lane(wide_t(raw), FEATURE_BITS, format);
}

// Byte `index` of an image held as words.
inline ap_uint<8> read_pixel(const word_t image[], unsigned index) {
    const word_t word = image[index / PIXEL_LANES];
    const int low = (index % PIXEL_LANES) * 8;
    return word.range(low + 7, low);
}

// Writes whole words: `first` and `count` must be multiples of FEATURE_LANES, except at
// the end of a feature map (the rest of its last word is zero).
template <typename T>
void store_features(word_t *scratch, unsigned word, unsigned first, int count,
                    const T values[]) {
    const int words = (count + FEATURE_LANES - 1) / FEATURE_LANES;
    constexpr int per_piece = 64 / FEATURE_BITS;
    constexpr std::uint64_t mask = FEATURE_BITS == 64 ? ~0ULL : (1ULL << FEATURE_BITS) - 1;
store_features_words:
    for (int w = 0; w < words; ++w) {
#pragma HLS pipeline II = 1
        std::uint64_t pieces[PIECES] = {};
    store_features_lanes:
        for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
            const int i = w * FEATURE_LANES + lane;
            const std::uint64_t raw = i < count ? std::uint64_t(values[i].to_int64()) & mask : 0;
            pieces[lane / per_piece] |= raw << ((lane % per_piece) * FEATURE_BITS);
        }
        scratch[word + first / FEATURE_LANES + w] = pack(pieces);
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
