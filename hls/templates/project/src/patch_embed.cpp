// Patch embedding: each 16x16x3 patch (in the conv weight's channel, row, column order)
// times the embedding matrix, plus bias and position; the CLS token is position 0 alone.
// The input normalization is folded into the weights at export.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

void patch_embed(const word_t *images, unsigned image_word, const word_t *weights,
                 const word_t *weights_mirror, word_t *scratch, unsigned out_word,
                 FeatureSides features, FeatureRows rows) {
#pragma HLS inline
    // The embedding is a linear layer (PATCH_INPUTS -> DIM) on the linear unit, every
    // patch a row, with the token's position joining its exact sum as a residual would.
    constexpr int TOKEN_ROW_WORDS = DIM / FEATURE_LANES;  // positions are in feature lanes too
    const LinearLayer layer = {PATCH_WEIGHT, PATCH_BIAS, 0, PATCH_INPUTS, DIM};
    const LinearOutput to_embedding = {EMBED_FORMAT, false, EMBED_FORMAT, true,
                                       POSITION.format};
    feature_t class_token[1][DIM];  // the CLS token: its position alone
#pragma HLS array_reshape variable = class_token cyclic factor = FEATURE_LANES dim = 2
    load_rows<FEATURE_BITS, 1, DIM>(weights, POSITION.word, 1, DIM, POSITION.format,
                                    class_token);
    load_rows<FEATURE_BITS, TOKENS, BUFFER_WIDTH>(weights, POSITION.word + TOKEN_ROW_WORDS,
                                                  PATCHES, DIM, POSITION.format, rows);

    // the image on chip (a burst of whole words), then every patch's pixels in the order of
    // the embedding's inputs
    static word_t image[IMAGE_WORDS];
#pragma HLS bind_storage variable = image type = ram_2p impl = uram
patch_embed_image:
    for (int w = 0; w < IMAGE_WORDS; ++w) {
#pragma HLS pipeline II = 1
        image[w] = images[image_word + w];
    }
    // patch (row, col), input (c, y, x): counters over the patch grid and the patch
    int row = 0, col = 0, c = 0, y = 0, x = 0;
patch_embed_gather:
    for (int i = 0; i < PATCHES * PATCH_INPUTS; ++i) {
#pragma HLS pipeline II = 1
        const int pixel = ((row * PATCH + y) * IMAGE_WIDTH + col * PATCH + x) * CHANNELS + c;
        const word_t word = image[pixel / PIXEL_LANES];
        const int low = (pixel % PIXEL_LANES) * 8;
        features[0][row * GRID_COLS + col][(c * PATCH + y) * PATCH + x] =
            feature_t(ap_uint<8>(word.range(low + 7, low)));
        if (++x == PATCH) {
            x = 0;
            if (++y == PATCH) {
                y = 0;
                if (++c == CHANNELS) {
                    c = 0;
                    if (++col == GRID_COLS) {
                        col = 0;
                        ++row;
                    }
                }
            }
        }
    }
    linear_rows(weights, weights_mirror, layer, PIXEL_FORMAT, features, 0, PATCHES, rows, to_embedding);
patch_embed_class_token:
    for (int d = 0; d < DIM; ++d) {
#pragma HLS pipeline II = 1
        class_token[0][d] = feature_t(requantize(feature_value(class_token[0][d],
                                                               POSITION.format),
                                                 POSITION.format.frac, EMBED_FORMAT));
    }
    store_rows<1, DIM>(scratch, out_word, 1, DIM, class_token);
    store_rows<TOKENS, BUFFER_WIDTH>(scratch, out_word + TOKEN_ROW_WORDS, PATCHES, DIM,
                                     features[1]);
}

}  // namespace edgemoe
