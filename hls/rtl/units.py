"""The datapath units as Verilog: GELU, exp, 1/x, 1/sqrt(x), the single-pass softmax step
and its finalization, and the linear unit's MAC tile.

Every constant a unit needs (table entries, widths, shift amounts) is computed here from
``edgemoe.sim``'s specs and integer tables, and every intermediate width from the largest
value the datapath can hold, so the Verilog does exactly the integer operations the
simulator does. Each unit is a pipeline taking one value per cycle with a fixed latency
(``UnitPlan.latency``); ``in_valid`` may drop on any cycle and ``out_valid`` follows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgemoe.sim.approx import ExpSpec, GeluSpec, ReciprocalSpec, RsqrtSpec
from edgemoe.sim.fixed_array import FixedArray, quantize
from edgemoe.sim.fixed_format import OVERFLOW_MODES, ROUNDING_MODES, FixedFormat
from edgemoe.sim.kernels import SoftmaxSpec
from edgemoe.sim.unit_specs import MacSpec


class RtlError(ValueError):
    """A configuration the Verilog templates cannot implement."""


def bits_signed(low: int, high: int) -> int:
    """Width of a two's-complement signal holding every integer in [low, high]."""
    return max(1, max(high.bit_length(), (-low - 1).bit_length() if low < 0 else 0) + 1)


def bits_unsigned(high: int) -> int:
    return max(1, int(high).bit_length())


def literal(value: int, width: int) -> str:
    """A sized signed Verilog literal."""
    return f"-{width}'sd{-value}" if value < 0 else f"{width}'sd{value}"


def cast_parameters(in_width: int, in_frac: int, in_signed: bool, out: FixedFormat) -> str:
    """The parameter list of a ``fixed_cast`` instance."""
    return (f"#(.IN_W({in_width}), .IN_F({in_frac}), .IN_SIGNED({int(in_signed)}), "
            f".OUT_W({out.width}), .OUT_F({out.frac_bits}), .OUT_SIGNED({int(out.signed)}), "
            f".ROUNDING({ROUNDING_MODES.index(out.rounding)}), "
            f".OVERFLOW({OVERFLOW_MODES.index(out.overflow)}))")


@dataclass
class UnitPlan:
    """One unit: its module name, template, latency and template context."""

    module: str
    template: str
    latency: int
    context: dict[str, Any] = field(default_factory=dict)
    depends: tuple[str, ...] = ("fixed_cast",)


def port(fmt: FixedFormat) -> dict[str, Any]:
    return {"width": fmt.width, "frac": fmt.frac_bits, "signed": fmt.signed, "text": str(fmt)}


# --------------------------------------------------------------------------------- GELU
def gelu_plan(spec: GeluSpec) -> UnitPlan:
    fin = spec.input_fmt
    if not fin.signed:
        raise RtlError(f"gelu_unit takes a signed input, got {fin}")
    fx, g, step = fin.frac_bits, spec.frac_bits, spec.step_bits
    offset_bits = max(fx - step, 0)
    table = spec.table()
    entries = spec.entries
    base = [int(v) for v in table[:entries]]
    delta = [int(table[i] - table[i + 1]) for i in range(entries)]
    magnitude_bits = fin.width  # |x| <= 2**(width - 1)
    index_bits = (magnitude_bits - offset_bits) if fx >= step else magnitude_bits + step - fx
    frac = g + offset_bits
    table_w = bits_signed(min(base), max(base))
    delta_w = bits_signed(min(delta), max(delta))
    value_w = max(fin.width + frac - fx, g + offset_bits) + 3
    offset_w = max(offset_bits, 1)
    index_w = bits_unsigned(entries - 1)
    if fx >= step:
        full_index_expr = f"magnitude[{fin.width - 1}:{offset_bits}]"
        offset_expr = f"magnitude[{offset_bits - 1}:0]" if offset_bits else "1'b0"
    else:
        full_index_expr = f"{{magnitude, {step - fx}'b0}}"
        offset_expr = "1'b0"
    in_table_expr = (f"full_index < {index_bits}'d{entries}" if 2**index_bits > entries
                   else "1'b1")
    index_expr = (f"full_index[{index_w - 1}:0]" if index_bits >= index_w
                  else f"{{{index_w - index_bits}'b0, full_index}}")
    return UnitPlan("gelu_unit", "gelu_unit.v.j2", latency=5, context=dict(
        input=port(fin), output=port(spec.output_fmt), entries=entries,
        step_bits=step, index_w=index_w, full_index_w=index_bits,
        full_index_expr=full_index_expr, offset_expr=offset_expr, in_table_expr=in_table_expr,
        index_expr=index_expr, offset_bits=offset_bits, offset_w=offset_w,
        table=list(zip(base, delta, strict=True)), table_w=table_w, delta_w=delta_w,
        relu_shift=frac - fx, value_w=value_w,
        cast=cast_parameters(value_w, frac, True, spec.output_fmt)))


# --------------------------------------------------------------------------------- exp
def exp_plan(spec: ExpSpec) -> UnitPlan:
    fin = spec.input_fmt
    if not fin.signed or fin.frac_bits < 0:
        raise RtlError(f"exp_unit takes a signed input (x <= 0) with fraction bits, got {fin}")
    fx, ft = fin.frac_bits, spec.frac_bits
    segment = ft - spec.table_bits
    table = spec.table()
    entries = 2**spec.table_bits
    product_max = 2 ** (fin.width - 1) * spec.log2e_raw
    product_w = bits_unsigned(product_max) + 1  # room for the rounding add
    t_max = (product_max + (1 << (fx - 1))) >> fx if fx > 0 else product_max
    t_w = max(bits_unsigned(t_max), ft + 1)
    deltas = [int(table[i] - table[i + 1]) for i in range(entries)]
    value_w = ft + segment + 1  # (table[i] << segment) - ... < 2**(ft + segment + 1)
    t_expr = f"(product2 + {product_w}'d{1 << (fx - 1)}) >> {fx}" if fx > 0 else "product2"
    return UnitPlan("exp_unit", "exp_unit.v.j2", latency=6, context=dict(
        input=port(fin), output=port(spec.output_fmt), log2e=spec.log2e_raw,
        product_w=product_w, ft=ft, t_w=t_w, t_expr=t_expr, whole_w=max(t_w - ft, 1),
        whole_expr=f"t_full[{t_w - 1}:{ft}]" if t_w > ft else "1'b0",
        table_bits=spec.table_bits, segment=segment,
        table=[(int(table[i]), deltas[i]) for i in range(entries)],
        table_w=bits_unsigned(int(table.max())), delta_w=bits_unsigned(max(deltas)),
        too_far=(f"whole5 >= {max(t_w - ft, 1)}'d{value_w}" if 2 ** max(t_w - ft, 1) > value_w
                 else "1'b0"),
        value_w=value_w, cast=cast_parameters(value_w, ft + segment, False, spec.output_fmt)))


# ------------------------------------------------------------------- 1/x and 1/sqrt(x)
def _newton_bounds(spec: ReciprocalSpec | RsqrtSpec) -> dict[str, int]:
    """The largest value of every Newton intermediate over every normalized mantissa."""
    w = spec.work_bits
    mantissa = np.arange(1 << w, 2 << w, dtype=np.int64)
    if isinstance(spec, RsqrtSpec):
        mantissa = np.concatenate([mantissa, mantissa << 1])
    peaks: dict[str, int] = {"mantissa": int(mantissa.max())}
    table = spec.table()
    if isinstance(spec, ReciprocalSpec):
        r = table[(mantissa >> (w - spec.seed_bits)) & ((1 << spec.seed_bits) - 1)]
    else:
        odd = (mantissa >> (w + 1)) & 1
        half_bits = spec.seed_bits - 1
        r = table[(odd << half_bits) | ((mantissa >> (w + odd - half_bits))
                                        & ((1 << half_bits) - 1))]
    peaks["r"] = int(r.max())
    for _ in range(spec.newton_steps):
        if isinstance(spec, ReciprocalSpec):
            product = (mantissa * r + (1 << (w - 1))) >> w
            factor = (2 << w) - product
            r = (r * factor + (1 << (w - 1))) >> w
        else:
            square = (r * r + (1 << (w - 1))) >> w
            peaks["square"] = max(peaks.get("square", 0), int(square.max()))
            product = (mantissa * square + (1 << (w - 1))) >> w
            factor = (3 << w) - product
            r = (r * factor + (1 << w)) >> (w + 1)
        if factor.min() <= 0:
            raise RtlError(f"{spec.name}: a Newton factor is not positive; the seed table is "
                           "too coarse for this work width")
        peaks["product"] = max(peaks.get("product", 0), int(product.max()))
        peaks["factor"] = max(peaks.get("factor", 0), int(factor.max()))
        peaks["r"] = max(peaks["r"], int(r.max()))
    return peaks


def _normalizer_context(spec: ReciprocalSpec | RsqrtSpec) -> dict[str, Any]:
    """Stages 1 and 2 of both units: max(x, 1 LSB) and the bit length of that."""
    fin, w = spec.input_fmt, spec.work_bits
    width, length_w = fin.width, bits_unsigned(fin.width)
    zero = f"x1 == {width}'d0" + (f" || x1[{width - 1}]" if fin.signed else "")
    length = " : ".join(f"positive[{b}] ? {length_w}'d{b + 1}" for b in reversed(range(width)))
    mantissa = (f"justified[{width - 1}:{width - w - 1}]" if width >= w + 1
                else f"{{justified, {w + 1 - width}'b0}}")
    return dict(input=port(fin), output=port(spec.output_fmt), w=w, length_w=length_w,
                seed_bits=spec.seed_bits, steps=spec.newton_steps,
                table=[int(v) for v in spec.table()], clamp_expr=f"({zero}) ? {width}'d1 : x1",
                length_expr=f"{length} : {length_w}'d0", mantissa_expr=mantissa)


def reciprocal_plan(spec: ReciprocalSpec) -> UnitPlan:
    fin, fo, w = spec.input_fmt, spec.output_fmt.frac_bits, spec.work_bits
    peaks = _newton_bounds(spec)
    # the final shift right by a = w - fo - fx - 1 + length, length in [1, width]
    amount_min = w - fo - fin.frac_bits
    grow = max(0, -amount_min)
    r_w = bits_unsigned(peaks["r"])
    result_w = r_w + grow + 2
    context = _normalizer_context(spec) | dict(
        r_w=r_w, table_w=bits_unsigned(max(spec.table())), product_w=bits_unsigned(
            peaks["product"]) + 1, factor_w=bits_unsigned(peaks["factor"]) + 1,
        amount_bias=amount_min - 1 + grow, grow=grow, result_w=result_w,
        amount_w=bits_unsigned(amount_min - 1 + grow + fin.width),
        cast=cast_parameters(result_w, fo, False, spec.output_fmt))
    return UnitPlan("recip_unit", "recip_unit.v.j2", latency=5 + 2 * spec.newton_steps,
                    context=context)


def rsqrt_plan(spec: RsqrtSpec) -> UnitPlan:
    fin, fo, w = spec.input_fmt, spec.output_fmt.frac_bits, spec.work_bits
    peaks = _newton_bounds(spec)
    # exponent = length - 1 - fx in [-fx, width - 1 - fx]; final shift w - fo + (e - odd) / 2
    exponent_min, exponent_max = -fin.frac_bits, fin.width - 1 - fin.frac_bits
    amount_min = w - fo + (exponent_min - (exponent_min & 1)) // 2
    amount_max = w - fo + (exponent_max - (exponent_max & 1)) // 2
    grow = max(0, -amount_min)
    r_w = bits_unsigned(peaks["r"])
    result_w = r_w + grow + 2
    length_w = bits_unsigned(fin.width)
    exponent_w = max(bits_signed(exponent_min, max(exponent_max, fin.width)), length_w + 1)
    context = _normalizer_context(spec) | dict(
        r_w=r_w, square_w=bits_unsigned(peaks["square"]),
        product_w=bits_unsigned(peaks["product"]), factor_w=bits_unsigned(peaks["factor"]) + 1,
        fx=fin.frac_bits, exponent_w=exponent_w, grow=grow, result_w=result_w,
        amount_bias=w - fo + grow,
        amount_w=max(bits_unsigned(amount_max + grow) + 1, exponent_w),
        cast=cast_parameters(result_w, fo, False, spec.output_fmt))
    return UnitPlan("rsqrt_unit", "rsqrt_unit.v.j2", latency=5 + 3 * spec.newton_steps,
                    context=context)


# --------------------------------------------------------------------------- softmax
def softmax_update_plan(spec: SoftmaxSpec, score_fmt: FixedFormat) -> UnitPlan:
    exp, sums = spec.exp, spec.sum_fmt
    if sums.signed or sums.frac_bits < exp.output_fmt.frac_bits:
        raise RtlError(f"the softmax sum {sums} must be unsigned and hold every bit of the "
                       f"exp output {exp.output_fmt}")
    exponential = exp_plan(exp)
    zero = FixedArray._trusted(np.array([0]), exp.input_fmt)
    term_zero = int(quantize(exp(zero).raw, exp.output_fmt, sums)[0])  # exp(0), summed
    product_w = sums.width + exp.output_fmt.width
    diff_w = score_fmt.width + 1
    return UnitPlan("softmax_update", "softmax_update.v.j2", latency=3 + exponential.latency,
                    depends=("fixed_cast", "exp_unit"), context=dict(
                        score=port(score_fmt), sum=port(sums), exp=port(exp.output_fmt),
                        exp_input=port(exp.input_fmt), exp_latency=exponential.latency,
                        term_zero=term_zero, product_w=product_w, diff_w=diff_w,
                        term_shift=sums.frac_bits - exp.output_fmt.frac_bits,
                        compare=("$signed(score1) > $signed(max1)" if score_fmt.signed
                                 else "score1 > max1"),
                        diff_cast=cast_parameters(diff_w, score_fmt.frac_bits,
                                                  True, exp.input_fmt),
                        product_cast=cast_parameters(
                            product_w, sums.frac_bits + exp.output_fmt.frac_bits, False, sums)))


def softmax_finalize_plan(spec: SoftmaxSpec, score_fmt: FixedFormat) -> UnitPlan:
    reciprocal = reciprocal_plan(spec.reciprocal)
    return UnitPlan("softmax_finalize", "softmax_finalize.v.j2", latency=reciprocal.latency,
                    depends=("recip_unit",), context=dict(
                        score=port(score_fmt), sum=port(spec.sum_fmt),
                        inv_sum=port(spec.reciprocal.output_fmt)))


# --------------------------------------------------------------------------- MAC tile
def mac_tile_plan(spec: MacSpec) -> UnitPlan:
    x, w = spec.x_fmt, spec.w_fmt
    product_w = x.width + w.width + 1  # operands sign- or zero-extended by a bit
    sum_w = product_w + bits_unsigned(spec.tile_in)
    acc_w = product_w + bits_unsigned(spec.max_reduction)
    def extend(name: str, fmt: FixedFormat) -> str:  # to product_w bits, by sign or zero
        top = f"{name}[{fmt.width - 1}]" if fmt.signed else "1'b0"
        return f"{{{{{product_w - fmt.width}{{{top}}}}}, {name}}}"

    return UnitPlan("mac_tile", "mac_tile.v.j2", latency=5, context=dict(
        x_ext=extend("x", x), w_ext=extend("w", w), max_reduction=spec.max_reduction,
        x=port(x), w=port(w), out=port(spec.out_fmt), tile_in=spec.tile_in,
        tile_out=spec.tile_out, product_w=product_w, sum_w=sum_w, acc_w=acc_w,
        cast=cast_parameters(acc_w, spec.acc_frac, True, spec.out_fmt)))
