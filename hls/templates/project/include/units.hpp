// The accelerator's units, shared by every layer (formats and offsets are parameters).
#ifndef EDGEMOE_UNITS_HPP
#define EDGEMOE_UNITS_HPP

#include "config.hpp"

namespace edgemoe {

// The widest rows the linear unit takes in and gives out (a patch is a row of the
// embedding layer).
constexpr int MAX_INPUTS = MAX_HIDDEN > PATCH_INPUTS ? MAX_HIDDEN : PATCH_INPUTS;
constexpr int MAX_OUTPUTS = DIM > MAX_HIDDEN ? DIM : MAX_HIDDEN;

// Tokens (TOKENS x DIM) from one image: patch embedding, bias, CLS and positions.
void patch_embed(const word_t *images, unsigned image_word, const word_t *weights,
                 word_t *scratch, unsigned out_word);

// One-pass LayerNorm of TOKENS rows of DIM.
void layer_norm(const word_t *weights, const LayerNormParams &params, const Format &in,
                word_t *scratch, unsigned in_word, unsigned out_word);

// One layer of the linear unit: W (out_dim x in_dim) and b, `offset_rows` rows into their
// tensors (an expert's slice of a stacked tensor).
struct LinearLayer {
    const Tensor *weight;
    const Tensor *bias;
    unsigned offset_rows;
    int in_dim, out_dim;
};

// What the linear unit does to a row's exact sums before they leave it.
struct LinearOutput {
    const Format *out;  // the result's format
    const Format *gelu_in;  // nullptr: no GELU; else cast to it, then GELU to `out`
    const Format *residual_format;  // nullptr: no residual; else the residual's format
};

// out = x W^T + b (+ residual), or its GELU, for `count` rows held on chip (row r of x at
// r * in_dim, of residual and out at r * out_dim). The weights stream from DDR a strip of
// TILE_OUT rows at a time while the strip before it meets every row in TILE_IN x TILE_OUT
// MACs; products and sums are exact and each result is rounded once.
void linear_rows(const word_t *weights, const LinearLayer &layer, const Format &in,
                 const feature_t x[], int count, const feature_t residual[],
                 const LinearOutput &output, feature_t out[]);

// The same over feature maps in DDR: all TOKENS rows of `in_word` (and of `residual_word`
// when the output has a residual) on chip, through the unit, and out to `out_word`.
void linear(const word_t *weights, const LinearLayer &layer, word_t *scratch,
            unsigned in_word, const Format &in, unsigned out_word, const LinearOutput &output,
            unsigned residual_word);

// Multi-head attention, P query rows at a time, keys in the reordered order, with the
// single-pass softmax; writes the attention output (TOKENS x DIM) and, in debug mode,
// the scores.
void attention(const BlockParams &block, word_t *scratch, unsigned q_word, unsigned k_word,
               unsigned v_word, unsigned out_word, unsigned scores_word, bool debug);

// The MoE layer: gate, top-k, expert queues, each active expert once over its queue, the
// gate-weighted scatter into the residual.
void moe_layer(const word_t *weights, const BlockParams &block, int task, word_t *scratch,
               unsigned in_word, unsigned residual_word, unsigned out_word,
               unsigned probs_word, bool debug);

}  // namespace edgemoe

#endif  // EDGEMOE_UNITS_HPP
