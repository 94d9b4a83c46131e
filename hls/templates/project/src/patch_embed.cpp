// Patch embedding: each 16x16x3 patch (in the conv weight's channel, row, column order)
// times the embedding matrix, plus bias and position; the CLS token is position 0 alone.
// The input normalization is folded into the weights at export.
#include "fixed_point.hpp"
#include "memory.hpp"
#include "units.hpp"

namespace edgemoe {

void patch_embed(const word_t *images, unsigned image_word, const word_t *weights,
                 word_t *scratch, unsigned out_word) {
    static wide_t matrix[DIM * PATCH_INPUTS];  // the embedding, loaded once per image
    static wide_t bias[DIM];
    static wide_t position[TOKENS * DIM];
    load_weights(weights, PATCH_WEIGHT, 0, DIM * PATCH_INPUTS, matrix);
    load_weights(weights, PATCH_BIAS, 0, DIM, bias);
    load_weights(weights, POSITION, 0, TOKENS * DIM, position);
    const Format &w = PATCH_WEIGHT.format;
    const int product_frac = PIXEL_FORMAT.frac + w.frac;
    int frac = product_frac;
    if (PATCH_BIAS.format.frac > frac) frac = PATCH_BIAS.format.frac;
    if (POSITION.format.frac > frac) frac = POSITION.format.frac;

patch_embed_tokens:
    for (int t = 0; t < TOKENS; ++t) {
        wide_t out[DIM];
        wide_t patch[PATCH_INPUTS];
        if (t > 0) {
            const int row = (t - 1) / GRID_COLS, col = (t - 1) % GRID_COLS;
        patch_embed_gather:
            for (int i = 0; i < PATCH_INPUTS; ++i) {
#pragma HLS pipeline II = 1
                const int c = i / (PATCH * PATCH);
                const int y = (i / PATCH) % PATCH, x = i % PATCH;
                const int pixel = ((row * PATCH + y) * IMAGE_WIDTH + col * PATCH + x) * CHANNELS + c;
                patch[i] = wide_t(read_pixel(images, image_word, pixel));
            }
        }
    patch_embed_features:
        for (int d = 0; d < DIM; ++d) {
            wide_t sum = position[t * DIM + d] << (frac - POSITION.format.frac);
            if (t > 0) {
                wide_t acc = 0;
            patch_embed_mac:
                for (int i = 0; i < PATCH_INPUTS; ++i) {
#pragma HLS pipeline II = 1
                    acc += operand_t(patch[i]) * weight_t(matrix[d * PATCH_INPUTS + i]);
                }
                sum += (acc << (frac - product_frac))
                       + (bias[d] << (frac - PATCH_BIAS.format.frac));
            }
            out[d] = requantize(sum, frac, EMBED_FORMAT);
        }
        store_features(scratch, out_word, t * DIM, DIM, out);
    }
}

}  // namespace edgemoe
