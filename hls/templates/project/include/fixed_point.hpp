// Fixed-point arithmetic shared by every unit, bit for bit what edgemoe.sim computes.
//
// Values travel as raw two's-complement integers (wide_t); a Format says how many of
// their bits are fraction and how a result is rounded and saturated. Formats change from
// layer to layer, so the units take them as run-time parameters (a shift and a clamp in
// hardware) instead of compile-time ap_fixed types: one unit then serves every layer.
// requantize() is ap_fixed's converting assignment with those parameters; the
// approximations below are sim/approx.py's integer datapaths, step for step.
#ifndef EDGEMOE_FIXED_POINT_HPP
#define EDGEMOE_FIXED_POINT_HPP

#ifndef __SYNTHESIS__
#include <cstdio>
#include <cstdlib>
#endif
#if defined(EDGEMOE_NATIVE_ARITHMETIC) && !defined(__SYNTHESIS__)
#include <type_traits>
#endif

#include "config.hpp"

namespace edgemoe {

// Multiplier operands at the widths this artifact's formats need (config.hpp): a value is
// narrowed to one of these only where its bound holds, so the product is exact; C
// simulation checks every narrowing (synthesis only casts).
typedef ap_int<LN_TOTAL_BITS> ln_total_t;
typedef ap_int<LN_SQUARES_BITS> ln_squares_t;
typedef ap_int<LN_INV_DIM_BITS> inv_dim_t;
typedef ap_int<LN_MEAN_BITS> ln_mean_t;
typedef ap_int<LN_CENTERED_BITS> ln_centered_t;
typedef ap_int<LN_INV_STD_BITS> ln_inv_std_t;
typedef ap_int<LN_NORMALIZED_BITS> ln_normalized_t;
typedef ap_int<LN_GAMMA_BITS> ln_gamma_t;
typedef ap_int<EXP_INPUT_BITS> exp_input_t;
typedef ap_int<EXP_FRAC_BITS + 2> log2e_t;
typedef ap_int<EXP_STEP_BITS> exp_step_t;
typedef ap_int<EXP_FRAC_BITS - EXP_TABLE_BITS + 1> exp_offset_t;
typedef ap_int<SOFTMAX_TOTAL_BITS> softmax_total_t;
typedef ap_int<SOFTMAX_EXP_BITS> softmax_exp_t;
typedef ap_int<SOFTMAX_INV_SUM_BITS> softmax_inv_sum_t;
typedef ap_int<GELU_STEP_DIFF_BITS> gelu_step_t;
typedef ap_int<GELU_OFFSET_BITS> gelu_offset_t;
typedef ap_int<RECIPROCAL_OPERAND_BITS> reciprocal_operand_t;
typedef ap_int<RSQRT_OPERAND_BITS> rsqrt_operand_t;
typedef ap_int<MOE_SUM_BITS> moe_sum_t;

template <typename T>
T narrow(const wide_t &value) {
#pragma HLS inline
#ifndef __SYNTHESIS__
    if (wide_t(T(value)) != value) {
        std::fprintf(stderr, "edgemoe: a value outside its operand bound (%d bits)\n",
                     T::width);
        std::abort();
    }
#endif
    return T(value);
}

// Exact products and their sums, the bulk of a run's arithmetic. Synthesis (and a build
// without EDGEMOE_NATIVE_ARITHMETIC) makes each from ap_int operators at the operands'
// widths. edgemoe's C simulation defines it and computes the same integers in native
// registers: the ap_int headers used outside Vitis pass every operation through a
// volatile store and load, several times slower than the arithmetic itself. Operands fit
// a long long and sums an __int128, so both give the same integers (tests build the
// project both ways and compare each with the golden vectors); the native path also
// checks that every sum fits its type, which synthesis would silently truncate.
#if !defined(EDGEMOE_NATIVE_ARITHMETIC) || defined(__SYNTHESIS__)
// sum + a * b
template <typename Sum, typename A, typename B>
Sum multiply_add(const Sum &sum, const A &a, const B &b) {
#pragma HLS inline
    static_assert(A::width + B::width <= Sum::width, "a product must fit its sum");
    return Sum(sum + a * b);
}

// sum of a[first + i] * b[first + i] over i < N: N multipliers and an adder tree
template <typename Sum, int N, typename A, int A_LENGTH, typename B, int B_LENGTH>
Sum dot_product(const A (&a)[A_LENGTH], const B (&b)[B_LENGTH], int first) {
#pragma HLS inline
    static_assert(A::width + B::width <= Sum::width, "a product must fit its sum");
    Sum sum = 0;
dot_product_terms:
    for (int i = 0; i < N; ++i) {
#pragma HLS unroll
        sum += a[first + i] * b[first + i];
    }
    return sum;
}
#else
template <typename Sum>
using native_sum_t = typename std::conditional<(Sum::width <= 64), long long, __int128>::type;

// An operand's value: a signed type of up to 64 bits, an unsigned one of up to 63.
template <int W, bool S>
long long to_native(const ap_int_base<W, S> &value) {
    static_assert(W + (S ? 0 : 1) <= 64, "an operand must fit a long long");
    return value.to_int64();
}

template <int W>
__int128 wide_to_native(const ap_int<W> &value) {
    if (W <= 64) return value.to_int64();
    const __int128 high = ap_int<W>(value >> 64).to_int64();
    return high * (__int128(1) << 64) + __int128(ap_uint<64>(value).to_uint64());
}

// An exact sum back into its type, which must hold it.
template <typename Sum>
Sum from_native(__int128 value) {
    static_assert(Sum::width <= 128, "sums are at most 128 bits");
    const __int128 sign = value >> (Sum::width - 1);  // 0 or -1 when the value fits
    if (sign != 0 && sign != -1) {
        std::fprintf(stderr, "edgemoe: a sum outside its bound (%d bits)\n", Sum::width);
        std::abort();
    }
    if (Sum::width <= 64) return Sum((long long)value);
    return Sum(Sum((long long)(value >> 64)) << 64)
           | Sum(ap_uint<64>((unsigned long long)value));
}

template <typename Sum, typename A, typename B>
Sum multiply_add(const Sum &sum, const A &a, const B &b) {
    static_assert(A::width + B::width <= Sum::width, "a product must fit its sum");
    const native_sum_t<Sum> product = native_sum_t<Sum>(to_native(a)) * to_native(b);
    return from_native<Sum>(native_sum_t<Sum>(wide_to_native(sum)) + product);
}

template <typename Sum, int N, typename A, int A_LENGTH, typename B, int B_LENGTH>
Sum dot_product(const A (&a)[A_LENGTH], const B (&b)[B_LENGTH], int first) {
    static_assert(A::width + B::width <= Sum::width, "a product must fit its sum");
    native_sum_t<Sum> sum = 0;
dot_product_terms:
    for (int i = 0; i < N; ++i) {
        sum += native_sum_t<Sum>(to_native(a[first + i])) * to_native(b[first + i]);
    }
    return from_native<Sum>(sum);
}
#endif

// Shifts past this leave nothing of a 62-bit magnitude (as in sim: MAX_SHIFT).
constexpr int MAX_SHIFT = 62;

// value / 2^amount rounded half up (AP_RND); a negative amount shifts left.
inline wide_t round_shift(wide_t value, int amount) {
#pragma HLS inline
    if (amount <= 0) return value << (-amount < MAX_SHIFT ? -amount : MAX_SHIFT);
    if (amount > MAX_SHIFT) amount = MAX_SHIFT;
    const wide_t half = wide_t(1) << (amount - 1);
    return (value + half) >> amount;
}

// Values handled here stay below 2^(WIDE_BITS - 4) in magnitude.
constexpr int MAX_DROPPED_BITS = WIDE_BITS - 3;

// An exact value with `frac` fraction bits cast to `out`: rounding by out.rounding, then
// overflow by out.overflow (ap_fixed's converting assignment).
inline wide_t requantize(wide_t value, int frac, const Format &out) {
#pragma HLS inline
    int shift = frac - out.frac;
    if (shift > 0) {
        // Once every bit of the value is dropped, the floor and every rounding decision
        // are fixed: dropping more changes nothing.
        if (shift > MAX_DROPPED_BITS) shift = MAX_DROPPED_BITS;
        const wide_t floor = value >> shift;
        const wide_t dropped = value - (floor << shift);
        const wide_t half = wide_t(1) << (shift - 1);
        const bool negative = value < 0;
        const bool above = dropped > half;
        const bool tie = dropped == half;
        const bool inexact = dropped != 0;
        const bool odd = (floor & 1) != 0;
        bool increment = false;
        switch (out.rounding) {
        case Rounding::TRN: increment = false; break;
        case Rounding::TRN_ZERO: increment = negative && inexact; break;
        case Rounding::RND: increment = above || tie; break;
        case Rounding::RND_ZERO: increment = above || (tie && negative); break;
        case Rounding::RND_MIN_INF: increment = above; break;
        case Rounding::RND_INF: increment = above || (tie && !negative); break;
        case Rounding::RND_CONV: increment = above || (tie && odd); break;
        }
        value = wide_t(floor + (increment ? 1 : 0));
    } else if (shift < 0) {
        value = value << (-shift);
    }
    const wide_t max = out.is_signed ? wide_t((wide_t(1) << (out.width - 1)) - 1)
                                     : wide_t((wide_t(1) << out.width) - 1);
    wide_t min = out.is_signed ? wide_t(-(wide_t(1) << (out.width - 1))) : wide_t(0);
    if (out.overflow == Overflow::WRAP) {
        const wide_t mask = wide_t((wide_t(1) << out.width) - 1);
        if (!out.is_signed) return wide_t(value & mask);
        const wide_t half = wide_t(1) << (out.width - 1);
        return wide_t(wide_t((value + half) & mask) - half);
    }
    if (out.overflow == Overflow::SAT_SYM && out.is_signed && out.width > 1) min = wide_t(-max);
    if (value > max || value < min) {
        if (out.overflow == Overflow::SAT_ZERO) return 0;
        return value > max ? max : min;
    }
    return value;
}

// Position of the leading one plus one (0 for 0), for non-negative values: a priority
// encoder of log2(WIDE_BITS) halving steps, each a compare and a shift (not a scan of
// every bit, which a rolled loop would spend WIDE_BITS cycles on).
inline int bit_length(wide_t value) {
#pragma HLS inline
    static_assert((WIDE_BITS & (WIDE_BITS - 1)) == 0, "halving needs a power-of-two width");
    int length = 0;
bit_length_halve:
    for (int step = WIDE_BITS / 2; step > 0; step /= 2) {
#pragma HLS unroll
        if ((value >> step) != 0) {
            value >>= step;
            length += step;
        }
    }
    return value != 0 ? length + 1 : 0;
}

// exp(x) for x <= 0: t = -x log2(e) = n + f, 2^-f from the table with interpolation,
// then a shift by n. x has in.frac fraction bits.
inline wide_t approx_exp(wide_t x, const Format &in, const Format &out) {
#pragma HLS inline
    constexpr int ft = EXP_FRAC_BITS;
    constexpr int segment_bits = EXP_FRAC_BITS - EXP_TABLE_BITS;
    const wide_t magnitude = x < 0 ? wide_t(-x) : wide_t(0);
    const wide_t t = round_shift(narrow<exp_input_t>(magnitude) * log2e_t(EXP_LOG2E), in.frac);
    const wide_t whole = t >> ft;
    const wide_t fraction = t & ((wide_t(1) << ft) - 1);
    const int index = int(fraction >> segment_bits);
    const wide_t offset = fraction & ((wide_t(1) << segment_bits) - 1);
    const wide_t base = EXP_TABLE[index];
    const wide_t next = EXP_TABLE[index + 1];
    wide_t value = (base << segment_bits)
                   - narrow<exp_step_t>(base - next) * narrow<exp_offset_t>(offset);
    value = value >> int(whole < MAX_SHIFT ? whole : wide_t(MAX_SHIFT));
    return requantize(value, ft + segment_bits, out);
}

// Normalize a positive value to w+1 bits with its leading one at bit w.
inline wide_t normalize(wide_t raw, int length, int w) {
#pragma HLS inline
    return length <= w + 1 ? wide_t(raw << (w + 1 - length)) : wide_t(raw >> (length - w - 1));
}

// 1/x for x > 0: normalize, seed from the table, Newton steps r <- r (2 - m r).
inline wide_t approx_reciprocal(wide_t x, const Format &in, const Format &out) {
#pragma HLS inline
    constexpr int w = RECIPROCAL_WORK_BITS;
    const wide_t raw = x < 1 ? wide_t(1) : wide_t(x);  // 1/0 saturates like 1/lsb
    const int length = bit_length(raw);
    const wide_t mantissa = normalize(raw, length, w);
    wide_t r = wide_t(RECIPROCAL_TABLE[int((mantissa >> (w - RECIPROCAL_SEED_BITS))
                                    & ((1 << RECIPROCAL_SEED_BITS) - 1))]);
reciprocal_newton:
    for (int step = 0; step < RECIPROCAL_NEWTON_STEPS; ++step) {
        const wide_t product = round_shift(
            narrow<reciprocal_operand_t>(mantissa) * narrow<reciprocal_operand_t>(r), w);
        r = round_shift(narrow<reciprocal_operand_t>(r)
                            * narrow<reciprocal_operand_t>((wide_t(2) << w) - product),
                        w);
    }
    const int scale = in.frac + 1 - length;
    const wide_t value = round_shift(r, w - out.frac - scale);
    return requantize(value, out.frac, out);  // already at out's LSB: overflow only
}

// 1/sqrt(x) for x > 0: normalize to [1, 4) with an even exponent, seed, Newton steps
// r <- r (3 - m r^2) / 2.
inline wide_t approx_rsqrt(wide_t x, const Format &in, const Format &out) {
#pragma HLS inline
    constexpr int w = RSQRT_WORK_BITS;
    constexpr int half_bits = RSQRT_SEED_BITS - 1;
    const wide_t raw = x < 1 ? wide_t(1) : wide_t(x);
    const int length = bit_length(raw);
    const int exponent = length - 1 - in.frac;
    const int odd = exponent & 1;
    const wide_t mantissa = normalize(raw, length, w) << odd;
    const int top = int((mantissa >> (w + odd - half_bits)) & ((1 << half_bits) - 1));
    wide_t r = wide_t(RSQRT_TABLE[(odd << half_bits) | top]);
rsqrt_newton:
    for (int step = 0; step < RSQRT_NEWTON_STEPS; ++step) {
        const rsqrt_operand_t root = narrow<rsqrt_operand_t>(r);
        const wide_t square = round_shift(root * root, w);
        const wide_t product = round_shift(
            narrow<rsqrt_operand_t>(mantissa) * narrow<rsqrt_operand_t>(square), w);
        r = round_shift(root * narrow<rsqrt_operand_t>((wide_t(3) << w) - product), w + 1);
    }
    const wide_t value = round_shift(r, w - out.frac + ((exponent - odd) >> 1));
    return requantize(value, out.frac, out);
}

// GELU(x) = ReLU(x) - d(|x|), d tabulated every 2^-GELU_STEP_BITS with interpolation
// and 0 from the table's end on.
inline wide_t approx_gelu(wide_t x, const Format &in, const Format &out) {
#pragma HLS inline
    constexpr int g = GELU_FRAC_BITS;
    const wide_t magnitude = x < 0 ? wide_t(-x) : wide_t(x);
    int offset_bits = 0;
    wide_t index, offset;
    if (in.frac >= GELU_STEP_BITS) {
        offset_bits = in.frac - GELU_STEP_BITS;
        index = magnitude >> offset_bits;
        offset = magnitude & ((wide_t(1) << offset_bits) - 1);
    } else {
        index = magnitude << (GELU_STEP_BITS - in.frac);
        offset = 0;
    }
    const bool inside = index < GELU_ENTRIES;
    const int at = inside ? int(index) : GELU_ENTRIES - 1;
    const wide_t base = GELU_TABLE[at];
    const wide_t next = GELU_TABLE[at + 1];
    const wide_t correction =
        inside ? wide_t((base << offset_bits)
                        - narrow<gelu_step_t>(base - next) * narrow<gelu_offset_t>(offset))
               : wide_t(0);
    const int frac = g + offset_bits;
    const wide_t relu = (x > 0 ? wide_t(x) : wide_t(0)) << (frac - in.frac);
    return requantize(relu - correction, frac, out);
}

}  // namespace edgemoe

#endif  // EDGEMOE_FIXED_POINT_HPP
