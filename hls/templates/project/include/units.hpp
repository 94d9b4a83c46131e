// The accelerator's units, shared by every layer (formats and offsets are parameters).
//
// Each unit is one instance: the top calls it, either directly or through wrappers that
// are inlined into it, under `allocation ... limit=1`. The top owns the feature buffers
// the units share: `features` (two sides of rows, one the linear unit's input and the
// other its output) and `rows` (a residual, the position embedding, or the MoE layer's
// tokens), each row a whole number of FEATURE_BLOCK words.
#ifndef EDGEMOE_UNITS_HPP
#define EDGEMOE_UNITS_HPP

#include "config.hpp"

namespace edgemoe {

typedef feature_t FeatureSides[2][TOKENS][BUFFER_WIDTH];
typedef feature_t FeatureRows[TOKENS][BUFFER_WIDTH];

// One layer of the linear unit: W (out_dim x in_dim) and b, `offset_rows` rows into their
// tensors (an expert's slice of a stacked tensor).
struct LinearLayer {
    Tensor weight;
    Tensor bias;
    unsigned offset_rows;
    int in_dim, out_dim;
};

// What the linear unit does to a row's exact sums before they leave it: round to `out`;
// or, with `gelu`, cast to `gelu_in` and pass through the GELU to `out`; with `residual`,
// add the row of `rows` (in `residual_format`) first.
struct LinearOutput {
    Format out;
    bool gelu;
    Format gelu_in;
    bool residual;
    Format residual_format;
};

// Tokens (TOKENS x DIM) from one image: patch embedding, bias, CLS and positions.
void patch_embed(const word_t *images, unsigned image_word, const word_t *weights,
                 const word_t *weights_mirror, word_t *scratch, unsigned out_word,
                 FeatureSides features, FeatureRows rows);

// One-pass LayerNorm of TOKENS rows of DIM, through features[0] and features[1]; gamma
// and beta are the DIM values from element `affine_first` of their tensors.
void layer_norm(const word_t *weights, const LayerNormParams &params, const Format &in,
                word_t *scratch, unsigned in_word, unsigned out_word, FeatureSides features,
                unsigned affine_first);

// out = x W^T + b (+ residual), or its GELU, for the first `count` rows of
// features[source] into features[1 - source]. The weights stream from DDR a strip of
// TILE_OUT rows at a time while the strip before it meets every row in TILE_IN x TILE_OUT
// MACs; products and sums are exact and each result is rounded once. `weights_mirror` is
// the same weights.bin through a second HP port: the two ports take turns, strip by strip.
void linear_rows(const word_t *weights, const word_t *weights_mirror, LinearLayer layer,
                 Format in, FeatureSides features, int source, int count,
                 const FeatureRows rows, LinearOutput output);

// The same over feature maps in DDR: all TOKENS rows of `in_word` (and of `residual_word`
// when the output has a residual) on chip, through the unit, and out to `out_word`.
void linear(const word_t *weights, const word_t *weights_mirror, const LinearLayer &layer,
            word_t *scratch, unsigned in_word, const Format &in, unsigned out_word,
            const LinearOutput &output, unsigned residual_word, FeatureSides features,
            FeatureRows rows);

// Multi-head attention, P query rows at a time, keys in the reordered order, with the
// single-pass softmax; writes the attention output (TOKENS x DIM) and, in debug mode,
// the scores.
void attention(const BlockParams &block, word_t *scratch, unsigned q_word, unsigned k_word,
               unsigned v_word, unsigned out_word, unsigned scores_word, bool debug);

// The MoE layer: gate, top-k, expert queues, each active expert once over its queue, the
// gate-weighted scatter into the residual.
void moe_layer(const word_t *weights, const word_t *weights_mirror, const BlockParams &block,
               int task, word_t *scratch, unsigned in_word, unsigned residual_word,
               unsigned out_word, unsigned probs_word, bool debug, FeatureSides features,
               FeatureRows rows);

}  // namespace edgemoe

#endif  // EDGEMOE_UNITS_HPP
