// The accelerator's units, shared by every layer (formats and offsets are parameters).
#ifndef EDGEMOE_UNITS_HPP
#define EDGEMOE_UNITS_HPP

#include "config.hpp"

namespace edgemoe {

// The widest row any unit holds on chip (a patch is a row of the embedding layer).
constexpr int MAX_INPUTS = MAX_HIDDEN > PATCH_INPUTS ? MAX_HIDDEN : PATCH_INPUTS;
constexpr int MAX_ROW = DIM > MAX_INPUTS ? DIM : MAX_INPUTS;

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

// The largest layer any unit holds on chip: DIM x the widest hidden size or patch.
constexpr int MAX_LAYER_WEIGHTS = DIM * MAX_INPUTS;

// A layer's weights and bias on chip. The weights lie tile by tile (TILE_OUT x TILE_IN,
// tiles row-major), so that with the array split cyclically into TILE_IN x TILE_OUT banks
// the weights of one MAC step are all in different banks.
struct LayerWeights {
    weight_t weights[MAX_LAYER_WEIGHTS];
    wide_t bias[MAX_ROW];
};

constexpr int TILE_WEIGHTS = TILE_IN * TILE_OUT;

// Where weight (o, i) of a layer with `in_dim` inputs lies in LayerWeights::weights.
inline int weight_index(int o, int i, int in_dim) {
    return ((o / TILE_OUT) * (in_dim / TILE_IN) + i / TILE_IN) * TILE_WEIGHTS
           + (o % TILE_OUT) * TILE_IN + i % TILE_IN;
}

// What the linear unit does to a row's exact sums before they leave it.
struct LinearOutput {
    const Format *out;  // the result's format
    const Format *gelu_in;  // nullptr: no GELU; else cast to it, then GELU to `out`
    const Format *residual_format;  // nullptr: no residual; else the residual's format
};

// Loads a layer's weights (WEIGHT_LANES per AXI word) into `buffer`.
void load_layer(const word_t *weights, const LinearLayer &layer, LayerWeights &buffer);

// out_rows = x W^T + b (+ residual_rows), or its GELU, for `count` rows held on chip, with
// the layer in `buffer`: rows go through TILE_IN x TILE_OUT MACs, products and sums are
// exact and each result is rounded once.
void linear_rows(const LayerWeights &buffer, const LinearLayer &layer, const wide_t in_rows[],
                 const Format &in, int count, const wide_t residual_rows[],
                 const LinearOutput &output, wide_t out_rows[]);

// The same over feature maps in DDR, all TOKENS rows of `in_word` to `out_word`: load the
// layer, then read, compute and write rows as a dataflow pipeline.
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
