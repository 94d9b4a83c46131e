"""How wide each multiplier's operands must be, from the artifact's formats.

Formats differ per layer, so the units compute on ``wide_t`` and take formats at run
time; but every product's operands are bounded by formats the generator knows: a value
requantized to a format fits that format, a sum of N of them fits log2(N) bits more. The
generated code casts each operand to the bound over every site that uses the unit, so
HLS builds each multiplier only as wide as the artifact needs (DSP48E2 tiles are 27x18),
and the resource model counts the same widths. A bound is a signed width in bits; each
field appears in config.hpp as its upper-case name with ``_BITS`` (``ln_total`` as
``LN_TOTAL_BITS``).
"""

from __future__ import annotations

from dataclasses import dataclass

from edgemoe.sim.approx import Tables
from edgemoe.sim.config import ModelConfig
from edgemoe.sim.fixed_format import FixedFormat, growth_bits
from edgemoe.sim.kernels import LayerNormSpec
from edgemoe.sim.manifest import Manifest
from edgemoe.sim.network import block_prefix
from edgemoe.sim.quant import softmax_names

#: Internal formats (sums, variances, reciprocals) per feature container, for a design
#: point that has no artifact yet (the presets' rules: 24 bits at int16, 32 at edge-moe).
PRESET_INTERNAL_BITS = {16: 24, 32: 32}


def max_linear_inputs(config: ModelConfig) -> int:
    """The widest row the linear unit takes in (config.hpp's MAX_INPUTS)."""
    return max(config.dim, config.mlp_hidden, config.expert_hidden,
               3 * config.patch * config.patch)


@dataclass(frozen=True)
class SumWidths:
    """The exact sums' accumulators (config.hpp's ``*_SUM_BITS``), from the containers
    their products multiply."""

    linear: int  # a feature times a weight, MAX_INPUTS of them
    score: int  # a query times a key (operands of either signedness), HEAD_DIM of them
    value: int  # a probability times a value, TOKENS of them

    @classmethod
    def of(cls, config: ModelConfig, feature_bits: int, weight_bits: int) -> SumWidths:
        operand = feature_bits + 1
        return cls(linear=feature_bits + weight_bits + growth_bits(max_linear_inputs(config)),
                   score=2 * operand + growth_bits(config.head_dim),
                   value=2 * operand + growth_bits(config.tokens))


def signed_bits(fmt: FixedFormat) -> int:
    """Bits of a signed integer that holds every raw value of ``fmt``."""
    return fmt.width + (0 if fmt.signed else 1)


@dataclass(frozen=True)
class DatapathWidths:
    ln_inv_dim: int  # the constant 1/DIM
    ln_total: int  # a LayerNorm row's sum
    ln_squares: int  # its sum of squares
    ln_mean: int
    ln_centered: int  # x - mean at the finer precision
    ln_inv_std: int
    ln_normalized: int
    ln_gamma: int
    exp_input: int  # |x| into an exp
    softmax_total: int  # a row's running sum (TOKENS terms)
    softmax_exp: int
    softmax_inv_sum: int
    gelu_offset: int  # the input's bits below the GELU table's step
    reciprocal_operand: int  # a Newton step's m, r and correction (1/x)
    rsqrt_operand: int  # the same for 1/sqrt(x)
    moe_sum: int  # a sum: a token's residual and its TOP_K gate-weighted expert outputs

    @classmethod
    def for_preset(cls, config: ModelConfig, feature_bits: int, weight_bits: int,
                   tables: Tables) -> DatapathWidths:
        """Bounds for a design point without an artifact: features as wide as their
        container, internal values as the preset makes them."""
        internal = PRESET_INTERNAL_BITS.get(feature_bits, feature_bits)
        dim_bits = growth_bits(config.dim)
        return cls(ln_inv_dim=LayerNormSpec.inv_dim_bits + 2, ln_total=feature_bits + dim_bits,
                   ln_squares=2 * feature_bits + dim_bits,
                   ln_mean=internal, ln_centered=internal + 1, ln_inv_std=internal,
                   ln_normalized=internal, ln_gamma=weight_bits + 1,
                   exp_input=internal + 1,
                   softmax_total=internal + growth_bits(config.tokens + 1) + 1,
                   softmax_exp=internal, softmax_inv_sum=internal,
                   gelu_offset=max(1, feature_bits - tables.gelu.step_bits + 1),
                   **newton_operands(tables),
                   # a probability times a feature (the residual shifted to their
                   # precision taken as no wider), TOP_K + 1 terms
                   moe_sum=2 * (feature_bits + 1) + growth_bits(config.top_k + 1))


#: A Newton step's operands with w work bits: m < 4 (rsqrt's mantissa with its odd
#: exponent folded in; the reciprocal's is < 2); r <= 1 + 2^-w (the seeds are at most 1,
#: Newton approaches 1/m and 1/sqrt(m) from below, rounding half up adds at most an LSB);
#: the corrections 2 - m r in (0, 2) and 3 - m r^2 in (-1, 3]. Every one is below 2^(w+2)
#: in magnitude: w + 3 signed bits hold it, the fourth is margin (C simulation checks each).
NEWTON_EXTRA_BITS = 4


def newton_operands(tables: Tables) -> dict[str, int]:
    return {"reciprocal_operand": tables.reciprocal.work_bits + NEWTON_EXTRA_BITS,
            "rsqrt_operand": tables.rsqrt.work_bits + NEWTON_EXTRA_BITS}


def _layer_norm_sites(manifest: Manifest) -> list[tuple[str, str, FixedFormat]]:
    """(spec prefix, weights prefix, input format) of every LayerNorm."""
    config, fmt = manifest.config, manifest.spec.fmt
    sites, x = [], fmt("embed")
    for layer in range(config.layers):
        p = block_prefix(layer)
        sites += [(p + "norm1", p + "norm1", x), (p + "norm2", p + "norm2", fmt(p + "residual1"))]
        x = fmt(p + "out")
    return sites + ([("norm", "norm", x)] if config.has_final_norm else [])


def datapath_widths(manifest: Manifest) -> DatapathWidths:
    """The bounds over every site of the artifact's accelerator."""
    config, spec = manifest.config, manifest.spec
    dim_bits = growth_bits(config.dim)
    ln: dict[str, int] = {}

    def widen(key: str, bits: int) -> None:
        ln[key] = max(ln.get(key, 1), bits)

    for prefix, weights, x in _layer_norm_sites(manifest):
        norm = spec.layer_norm(prefix)
        x_bits, mean = signed_bits(x), norm.mean_fmt
        centered_frac = max(mean.frac_bits, x.frac_bits)
        widen("ln_inv_dim", norm.inv_dim_bits + 2)
        widen("ln_total", x_bits + dim_bits)
        widen("ln_squares", 2 * x_bits + dim_bits)
        widen("ln_mean", signed_bits(mean))
        widen("ln_centered", max(x_bits + centered_frac - x.frac_bits,
                                 signed_bits(mean) + centered_frac - mean.frac_bits) + 1)
        widen("ln_inv_std", signed_bits(norm.rsqrt.output_fmt))
        widen("ln_normalized", signed_bits(norm.normalized_fmt))
        widen("ln_gamma", signed_bits(manifest.tensors[f"{weights}.weight"].format))
    token_bits = growth_bits(config.tokens + 1)
    prefixes = [block_prefix(layer) + name for layer in range(config.layers)
                for name in softmax_names(config, layer)]
    for prefix in prefixes:
        part = {name: spec.fmt(f"{prefix}.{name}") for name in ("diff", "exp", "sum",
                                                                 "inv_sum")}
        widen("exp_input", signed_bits(part["diff"]) + 1)
        widen("softmax_total", signed_bits(part["sum"]) + token_bits + 1)
        widen("softmax_exp", signed_bits(part["exp"]))
        widen("softmax_inv_sum", signed_bits(part["inv_sum"]))
    step_bits = spec.tables.gelu.step_bits
    for layer in range(config.layers):
        fc1 = spec.fmt(block_prefix(layer) + "fc1")
        widen("gelu_offset", max(0, fc1.frac_bits - step_bits) + 1)
    ln["moe_sum"] = max((_moe_sum_bits(manifest, layer) for layer in config.moe_layers),
                        default=1)
    return DatapathWidths(**ln, **newton_operands(manifest.approximations.tables))


def _moe_sum_bits(manifest: Manifest, layer: int) -> int:
    """The residual and TOP_K products (a probability times an expert's output), each at
    the finer of their precisions, summed."""
    fmt, p = manifest.spec.fmt, block_prefix(layer)
    residual, prob, out = fmt(p + "residual1"), fmt(p + "gate.prob"), fmt(p + "expert_out")
    product_frac = prob.frac_bits + out.frac_bits
    frac = max(product_frac, residual.frac_bits)
    terms = max(signed_bits(residual) + frac - residual.frac_bits,
                signed_bits(prob) + signed_bits(out) + frac - product_frac)
    return terms + growth_bits(manifest.config.top_k + 1)
