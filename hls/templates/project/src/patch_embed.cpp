// Patch embedding: each 16x16x3 patch (in the conv weight's channel, row, column order)
// times the embedding matrix, plus bias and position; the CLS token is position 0 alone.
// The input normalization is folded into the weights at export.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

void patch_embed(const word_t *images, unsigned image_word, const word_t *weights,
                 word_t *scratch, unsigned out_word) {
    // The embedding is a linear layer (PATCH_INPUTS -> DIM) on the linear unit's tile, with
    // the token's position joining its exact sum as a residual would.
    static LayerWeights embedding;
#pragma HLS array_partition variable = embedding.weights cyclic factor = TILE_WEIGHTS
    static wide_t position[TOKENS * DIM];
    const LinearLayer layer = {&PATCH_WEIGHT, &PATCH_BIAS, 0, PATCH_INPUTS, DIM};
    const LinearOutput to_embedding = {&EMBED_FORMAT, nullptr, &POSITION.format};
    load_layer(weights, layer, embedding);
    load_weights(weights, POSITION, 0, TOKENS * DIM, position);

    // the CLS token: its position alone
    wide_t out[DIM];
patch_embed_class_token:
    for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
        out[d] = requantize(position[d], POSITION.format.frac, EMBED_FORMAT);
    }
    store_features(scratch, out_word, 0, DIM, out);

patch_embed_tokens:
    for (int t = 1; t < TOKENS; ++t) {
        const int row = (t - 1) / GRID_COLS, col = (t - 1) % GRID_COLS;
        wide_t patch[PATCH_INPUTS];
    patch_embed_gather:
        for (int i = 0; i < PATCH_INPUTS; ++i) {
#pragma HLS pipeline II = 1
            const int c = i / (PATCH * PATCH);
            const int y = (i / PATCH) % PATCH, x = i % PATCH;
            const int pixel = ((row * PATCH + y) * IMAGE_WIDTH + col * PATCH + x) * CHANNELS + c;
            patch[i] = wide_t(read_pixel(images, image_word, pixel));
        }
        linear_rows(embedding, layer, patch, PIXEL_FORMAT, 1, &position[t * DIM], to_embedding,
                    out);
        store_features(scratch, out_word, t * DIM, DIM, out);
    }
}

}  // namespace edgemoe
