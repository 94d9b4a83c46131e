// Values in DDR: AXI words of AXI_BITS, each holding several lanes, moved a word a cycle.
//
// Feature maps (scratch) hold one value per FEATURE_BITS lane, weights.bin one weight per
// WEIGHT_BITS lane, images one byte per lane; a tensor starts on a word and runs in
// row-major order, and every row this accelerator moves is a whole number of words. Raw
// values are two's complement in their lane; an unsigned format as wide as its lane is
// read back as unsigned.
//
// On chip, rows live in two-dimensional arrays [row][column] whose row length is a
// compile-time constant: a word's lanes land in one row at columns the unrolled lanes
// make constant offsets of, so a reshaped array takes the whole word in one access.
#ifndef EDGEMOE_MEMORY_HPP
#define EDGEMOE_MEMORY_HPP

#include <cstdint>

#include "config.hpp"

namespace edgemoe {

inline wide_t from_lane(wide_t raw, int lane_bits, const Format &format) {
#pragma HLS inline
    if (!format.is_signed && format.width == lane_bits && raw < 0) {
        return raw + (wide_t(1) << lane_bits);
    }
    return raw;
}

// An AXI word as 64-bit pieces and back: lanes are unpacked with native shifts (one
// ap_uint<AXI_BITS> range access per piece, not one per lane).
constexpr int PIECES = AXI_BITS / 64;

inline void unpack(const word_t &word, std::uint64_t pieces[PIECES]) {
#pragma HLS inline
unpack_pieces:
    for (int p = 0; p < PIECES; ++p) {
#pragma HLS unroll
        pieces[p] = word.range(64 * p + 63, 64 * p).to_uint64();
    }
}

inline word_t pack(const std::uint64_t pieces[PIECES]) {
#pragma HLS inline
    word_t word = 0;
pack_pieces:
    for (int p = 0; p < PIECES; ++p) {
#pragma HLS unroll
        word.range(64 * p + 63, 64 * p) = pieces[p];
    }
    return word;
}

// The value in lane `lane` of BITS bits (BITS divides 64) of an unpacked word, read in
// `format`; `lane` is a constant wherever the lanes are unrolled.
template <int BITS>
wide_t lane_value(const std::uint64_t pieces[PIECES], int lane, const Format &format) {
#pragma HLS inline
    constexpr int PER_PIECE = 64 / BITS;
    const std::uint64_t raw = pieces[lane / PER_PIECE] >> ((lane % PER_PIECE) * BITS);
    const std::int64_t shifted = std::int64_t(raw << (64 - BITS));
    return from_lane(wide_t(shifted >> (64 - BITS)), BITS, format);
}

// Every lane of `word` (BITS bits each, read in `format`) into values[first], values[first
// + 1] ...: `first` a multiple of the lanes a word holds, so they land in one memory word
// of a reshaped array.
template <int BITS, typename T>
void word_to_lanes(const word_t &word, const Format &format, T values[], int first) {
#pragma HLS inline
    std::uint64_t pieces[PIECES];
    unpack(word, pieces);
word_to_lanes_lanes:
    for (int lane = 0; lane < AXI_BITS / BITS; ++lane) {
#pragma HLS unroll
        values[first + lane] = T(lane_value<BITS>(pieces, lane, format));
    }
}

// `rows` rows of `columns` values (whole words of BITS-bit lanes) from word `word` on,
// read in `format`, into the first columns of `values`: a word a cycle. (MAX_WORDS, the
// trip count's bound, is a template parameter so that the pragma names one constant.)
template <int BITS, int ROWS, int COLUMNS, typename T,
          int MAX_WORDS = ROWS * COLUMNS / (AXI_BITS / BITS)>
void load_rows(const word_t *memory, unsigned word, int rows, int columns,
               const Format &format, T values[ROWS][COLUMNS]) {
#pragma HLS inline
    constexpr int LANES = AXI_BITS / BITS;
    const int words_per_row = columns / LANES;
    int row = 0, block = 0;
load_rows_words:
    for (int w = 0; w < rows * words_per_row; ++w) {
#pragma HLS loop_tripcount min = 1 max = MAX_WORDS
#pragma HLS pipeline II = 1
        word_to_lanes<BITS>(memory[word + w], format, values[row], block * LANES);
        if (++block == words_per_row) {
            block = 0;
            ++row;
        }
    }
}

// `count` values (whole words) of a tensor in BITS-bit lanes (WEIGHT_BITS, or FEATURE_BITS
// for the addends: biases and positions) from its element `first` (on a word).
template <int BITS, int CAPACITY, typename T, int MAX_WORDS = CAPACITY / (AXI_BITS / BITS)>
void load_vector(const word_t *weights, const Tensor &tensor, unsigned first, int count,
                 T values[CAPACITY]) {
#pragma HLS inline
    constexpr int LANES = AXI_BITS / BITS;
    const unsigned word = tensor.word + first / LANES;
load_vector_words:
    for (int w = 0; w < count / LANES; ++w) {
#pragma HLS loop_tripcount min = 1 max = MAX_WORDS
#pragma HLS pipeline II = 1
        word_to_lanes<BITS>(weights[word + w], tensor.format, values, w * LANES);
    }
}

// A value held in a feature lane (feature_t) read back in its format.
inline wide_t feature_value(const feature_t &raw, const Format &format) {
#pragma HLS inline
    return from_lane(wide_t(raw), FEATURE_BITS, format);
}

// The first `columns` values of `rows` rows out to the feature map at `word`, a word a
// cycle (`columns` a whole number of words).
template <int ROWS, int COLUMNS, typename T, int MAX_WORDS = ROWS * COLUMNS / FEATURE_LANES>
void store_rows(word_t *scratch, unsigned word, int rows, int columns,
                const T values[ROWS][COLUMNS]) {
#pragma HLS inline
    constexpr int PER_PIECE = 64 / FEATURE_BITS;
    constexpr std::uint64_t MASK = FEATURE_BITS == 64 ? ~0ULL : (1ULL << FEATURE_BITS) - 1;
    const int words_per_row = columns / FEATURE_LANES;
    int row = 0, block = 0;
store_rows_words:
    for (int w = 0; w < rows * words_per_row; ++w) {
#pragma HLS loop_tripcount min = 1 max = MAX_WORDS
#pragma HLS pipeline II = 1
        std::uint64_t pieces[PIECES] = {};
    store_rows_lanes:
        for (int lane = 0; lane < FEATURE_LANES; ++lane) {
#pragma HLS unroll
            const T &value = values[row][block * FEATURE_LANES + lane];
            const std::uint64_t raw = std::uint64_t(feature_t(value).to_int64()) & MASK;
            pieces[lane / PER_PIECE] |= raw << ((lane % PER_PIECE) * FEATURE_BITS);
        }
        scratch[word + w] = pack(pieces);
        if (++block == words_per_row) {
            block = 0;
            ++row;
        }
    }
}

// One value into a feature map laid out without alignment (scores: HEADS x TOKENS x
// TOKENS): only the debug tap writes these.
inline void store_feature(word_t *scratch, unsigned word, unsigned index, wide_t value) {
#pragma HLS inline
    word_t data = scratch[word + index / FEATURE_LANES];
    const int low = (index % FEATURE_LANES) * FEATURE_BITS;
    data.range(low + FEATURE_BITS - 1, low) = feature_t(value);
    scratch[word + index / FEATURE_LANES] = data;
}

}  // namespace edgemoe

#endif  // EDGEMOE_MEMORY_HPP
