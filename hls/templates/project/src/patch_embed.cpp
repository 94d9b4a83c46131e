// Patch embedding: each 16x16x3 patch (in the conv weight's channel, row, column order)
// times the embedding matrix, plus bias and position; the CLS token is position 0 alone.
// The input normalization is folded into the weights at export.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

void patch_embed(const word_t *images, unsigned image_word, const word_t *weights,
                 word_t *scratch, unsigned out_word) {
    // The embedding is a linear layer (PATCH_INPUTS -> DIM) on the linear unit, every
    // patch a row, with the token's position joining its exact sum as a residual would.
    static feature_t patches[PATCHES * PATCH_INPUTS];
#pragma HLS array_reshape variable = patches cyclic factor = TILE_IN
#pragma HLS bind_storage variable = patches type = ram_2p impl = uram
    static feature_t position[TOKENS * DIM];
#pragma HLS array_reshape variable = position cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = position type = ram_2p impl = uram
    static feature_t out[TOKENS * DIM];
#pragma HLS array_reshape variable = out cyclic factor = TILE_OUT
#pragma HLS bind_storage variable = out type = ram_2p impl = uram
    const LinearLayer layer = {&PATCH_WEIGHT, &PATCH_BIAS, 0, PATCH_INPUTS, DIM};
    const LinearOutput to_embedding = {&EMBED_FORMAT, nullptr, &POSITION.format};
    load_weights(weights, POSITION, 0, TOKENS * DIM, position);

    // the image on chip (a burst of whole words), then every patch's pixels in the order of
    // the embedding's inputs
    static word_t image[IMAGE_WORDS];
#pragma HLS bind_storage variable = image type = ram_2p impl = uram
patch_embed_image:
    for (int w = 0; w < IMAGE_WORDS; ++w) {
#pragma HLS pipeline II = 1
        image[w] = images[image_word + w];
    }
patch_embed_gather:
    for (int i = 0; i < PATCHES * PATCH_INPUTS; ++i) {
#pragma HLS pipeline II = 1
        const int p = i / PATCH_INPUTS, k = i % PATCH_INPUTS;
        const int row = p / GRID_COLS, col = p % GRID_COLS;
        const int c = k / (PATCH * PATCH), y = (k / PATCH) % PATCH, x = k % PATCH;
        const int pixel = ((row * PATCH + y) * IMAGE_WIDTH + col * PATCH + x) * CHANNELS + c;
        patches[i] = feature_t(read_pixel(image, pixel));
    }
    linear_rows(weights, layer, PIXEL_FORMAT, patches, PATCHES, &position[DIM], to_embedding,
                &out[DIM]);
patch_embed_class_token:  // the CLS token: its position alone
    for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
        out[d] = feature_t(requantize(feature_value(position[d], POSITION.format),
                                      POSITION.format.frac, EMBED_FORMAT));
    }
    store_features(scratch, out_word, 0, TOKENS * DIM, out);
}

}  // namespace edgemoe
