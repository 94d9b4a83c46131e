// How a raw integer is read as a fixed-point number, as ap_fixed's template arguments
// but known at run time: the units serve every layer, and formats differ per layer.
#ifndef EDGEMOE_FORMATS_HPP
#define EDGEMOE_FORMATS_HPP

#include <cstdint>

// Loops are labelled so that synthesis reports name them; g++ sees labels nobody jumps to.
#pragma GCC diagnostic ignored "-Wunused-label"

namespace edgemoe {

enum class Rounding : std::uint8_t { TRN, TRN_ZERO, RND, RND_ZERO, RND_MIN_INF, RND_INF, RND_CONV };
enum class Overflow : std::uint8_t { WRAP, SAT, SAT_ZERO, SAT_SYM };

struct Format {
    int width;       // W of ap_fixed<W, I>
    int frac;        // W - I
    bool is_signed;  // ap_fixed (true) or ap_ufixed (false)
    Rounding rounding;
    Overflow overflow;
};

// A weight tensor in weights.bin: where it starts (in AXI words) and its format.
struct Tensor {
    unsigned word;
    Format format;
};

}  // namespace edgemoe

#endif  // EDGEMOE_FORMATS_HPP
