"""Quantization specs: a fixed-point format for every weight and every on-chip value.

``calibrate`` runs the float reference on calibration images, observes each tensor's
range, and applies a preset's rules:

- ``int16`` (the default): 16-bit weights and activations whose integer bits come from
  the observed range (with headroom), rounding and saturation; internal values of the
  norms and softmaxes (sums, variances, reciprocals) 24 bits. One 16x16 product fits one
  DSP48E2.
- ``edge-moe`` (the paper's): activations ap_fixed<32,10>, linear weights <16,2>, biases
  <16,5>, attention biases <16,7>, norms <16,5>, patch-embedding weights <16,0>, pixels
  ap_ufixed<8,0>, truncation and wrap-around. A weight tensor that would overflow its
  preset format gets the integer bits it needs, and the spec says so in ``notes``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .approx import GeluSpec, Tables
from .config import DEFAULT_LAYER_NORM_EPS, ModelConfig
from .fixed_array import FixedArray
from .fixed_format import FixedFormat
from .kernels import LayerNormSpec, SoftmaxSpec
from .network import block_prefix, float_forward, fold_shift, is_addend, weight_shapes

PRESETS = ("int16", "edge-moe")
#: Bits of the feature and the weight containers each preset gives (the lanes in DDR).
PRESET_BITS = {"int16": (16, 16), "edge-moe": (32, 16)}
#: The widest value the datapath holds (sums and reciprocals included).
MAX_FORMAT_WIDTH = 64
DEFAULT_TABLES = Tables()
HEADROOM = 1.25  # activations may exceed the calibration range by this much
PIXELS = FixedFormat(8, 0, signed=False, rounding="TRN", overflow="SAT")


class QuantError(ValueError):
    """A quantization spec that cannot be used."""


def int_bits_for(max_abs: float, signed: bool = True) -> int:
    """Integer bits (sign included) that hold values up to ``max_abs`` in magnitude."""
    if max_abs <= 0:
        return 1 if signed else 0
    return math.floor(math.log2(max_abs)) + 1 + signed


@dataclass
class RangeObserver:
    """Largest magnitude seen per tensor name."""

    max_abs: dict[str, float] = field(default_factory=dict)

    def __call__(self, name: str, value: np.ndarray) -> None:
        observed = float(np.max(np.abs(value), initial=0.0))
        self.max_abs[name] = max(self.max_abs.get(name, 0.0), observed)


def _layer_norm_names(name: str) -> list[str]:
    return [name, f"{name}.mean", f"{name}.var", f"{name}.inv_std", f"{name}.normalized"]


def activation_names(config: ModelConfig) -> list[str]:
    """Every calibrated on-chip value (the taps of ``float_forward``)."""
    names = ["embed"]
    for layer in range(config.layers):
        p = block_prefix(layer)
        names += _layer_norm_names(p + "norm1")
        names += [p + "q", p + "k", p + "v", p + "scores", p + "attn", p + "residual1"]
        names += _layer_norm_names(p + "norm2")
        names += [p + "fc1", p + "hidden", p + "out"]
        if layer in config.moe_layers:
            names += [p + "gate_logits", p + "expert_out"]
    return names + (_layer_norm_names("norm") if config.has_final_norm else [])


def _signed(width: int, int_bits: int, rounding: str, overflow: str) -> FixedFormat:
    return FixedFormat(width, int_bits, True, rounding, overflow)


def _unsigned(width: int, int_bits: int, rounding: str, overflow: str) -> FixedFormat:
    return FixedFormat(width, int_bits, False, rounding, overflow)


@dataclass(frozen=True)
class QuantSpec:
    """Formats by tensor name and the approximation tables' parameters: everything the
    simulator, the generators and the driver need to agree on."""

    preset: str
    formats: dict[str, FixedFormat]
    notes: tuple[str, ...] = ()
    tables: Tables = DEFAULT_TABLES
    layer_norm_eps: float = DEFAULT_LAYER_NORM_EPS  # the model's (ModelConfig)

    def fmt(self, name: str) -> FixedFormat:
        try:
            return self.formats[name]
        except KeyError:
            raise QuantError(f"the quantization spec has no format for {name!r}") from None

    # ----------------------------------------------------------- derived kernel specs
    def layer_norm(self, name: str) -> LayerNormSpec:
        return LayerNormSpec(
            mean_fmt=self.fmt(f"{name}.mean"),
            rsqrt=self.tables.rsqrt_spec(self.fmt(f"{name}.var"), self.fmt(f"{name}.inv_std")),
            normalized_fmt=self.fmt(f"{name}.normalized"),
            out_fmt=self.fmt(name), eps=self.layer_norm_eps)

    def softmax(self, prefix: str) -> SoftmaxSpec:
        """``prefix`` is ``blocks.L.softmax`` (attention) or ``blocks.L.gate`` (MoE)."""
        sums = self.fmt(f"{prefix}.sum")
        return SoftmaxSpec(
            exp=self.tables.exp_spec(self.fmt(f"{prefix}.diff"), self.fmt(f"{prefix}.exp")),
            sum_fmt=sums,
            reciprocal=self.tables.reciprocal_spec(sums, self.fmt(f"{prefix}.inv_sum")),
            prob_fmt=self.fmt(f"{prefix}.prob"))

    def gelu(self, prefix: str) -> GeluSpec:
        return self.tables.gelu_spec(self.fmt(f"{prefix}fc1"), self.fmt(f"{prefix}hidden"))


def softmax_names(config: ModelConfig, layer: int) -> tuple[str, ...]:
    """The softmaxes of a block: attention's, and the gate's in a MoE layer."""
    return ("softmax", "gate") if layer in config.moe_layers else ("softmax",)


def approximation_sites(config: ModelConfig, spec: QuantSpec) -> dict[str, Any]:
    """Every place an approximation is used, with its spec (formats and table parameters)."""
    sites: dict[str, Any] = {}
    for layer in range(config.layers):
        p = block_prefix(layer)
        for norm in ("norm1", "norm2"):
            sites[f"{p}{norm}.rsqrt"] = spec.layer_norm(p + norm).rsqrt
        for softmax in softmax_names(config, layer):
            unit = spec.softmax(p + softmax)
            sites[f"{p}{softmax}.exp"] = unit.exp
            sites[f"{p}{softmax}.reciprocal"] = unit.reciprocal
        sites[f"{p}gelu"] = spec.gelu(p)
    if config.has_final_norm:
        sites["norm.rsqrt"] = spec.layer_norm("norm").rsqrt
    return sites


def required_formats(config: ModelConfig) -> list[str]:
    """Every name a spec for ``config`` gives a format to."""
    names = ["pixels", *weight_shapes(config), *activation_names(config)]
    for layer in range(config.layers):
        p = block_prefix(layer)
        names += [f"{p}{softmax}.{part}" for softmax in softmax_names(config, layer)
                  for part in ("diff", "exp", "sum", "inv_sum", "prob")]
    return names


def format_problem(name: str, fmt: FixedFormat) -> str | None:
    """Why ``fmt`` cannot hold ``name`` in this datapath, or None."""
    if fmt.width > MAX_FORMAT_WIDTH:
        return f"{name}: {fmt.cpp_type} is wider than the datapath's {MAX_FORMAT_WIDTH} bits"
    if not -fmt.width <= fmt.int_bits <= fmt.width:
        return (f"{name}: {fmt.cpp_type} has {fmt.int_bits} integer bits in {fmt.width}: a "
                f"range up to 2^{fmt.int_bits - 1} is no value a ViT holds; check the tensor "
                "for overflow or a broken checkpoint")
    return None


def check_finite(weights: dict[str, np.ndarray]) -> None:
    """Refuse NaN or infinite weights, naming the tensor."""
    for name, value in weights.items():
        finite = np.isfinite(np.asarray(value, np.float64))
        if not finite.all():
            where = tuple(int(i) for i in np.argwhere(~finite)[0])
            raise QuantError(f"weight {name} holds {np.asarray(value).flat[np.argmin(finite)]} "
                             f"at {where}: export needs finite weights")


# ------------------------------------------------------------------------- presets
def _softmax_internals(prefix: str, scores: FixedFormat, entries: int,
                       wide: int) -> dict[str, FixedFormat]:
    """Formats around one softmax over ``entries`` values whose scores have format
    ``scores``: differences (one more integer bit, saturating), exp in [0, 1], a sum of up
    to ``entries`` ones, its reciprocal in (0, 1], probabilities in [0, 1]."""
    prob_width = scores.width
    sum_int = max(1, math.ceil(math.log2(entries + 1)))
    return {
        f"{prefix}.diff": _signed(scores.width, scores.int_bits + 1, "RND", "SAT"),
        f"{prefix}.exp": _unsigned(prob_width, 1, "RND", "SAT"),
        f"{prefix}.sum": _unsigned(sum_int + prob_width - 1, sum_int, "RND", "SAT"),
        f"{prefix}.inv_sum": _unsigned(wide, 1, "RND", "SAT"),
        f"{prefix}.prob": _unsigned(prob_width, 1, "RND", "SAT"),
    }


def _int16(config: ModelConfig, weights: dict[str, np.ndarray],
           observed: dict[str, float]) -> tuple[dict[str, FixedFormat], list[str]]:
    formats: dict[str, FixedFormat] = {"pixels": PIXELS}
    for name in weight_shapes(config):
        formats[name] = _signed(16, int_bits_for(float(np.max(np.abs(weights[name])))),
                                "RND", "SAT")
    for name in activation_names(config):
        bound = observed.get(name, 0.0) * HEADROOM
        if name.endswith((".var", ".inv_std")):  # positive internals: 24 bits
            formats[name] = _unsigned(24, int_bits_for(bound, signed=False), "RND", "SAT")
        elif name.endswith(".mean"):
            formats[name] = _signed(24, int_bits_for(bound), "RND", "SAT")
        else:
            formats[name] = _signed(16, int_bits_for(bound), "RND", "SAT")
    for layer in range(config.layers):
        p = block_prefix(layer)
        formats |= _softmax_internals(p + "softmax", formats[p + "scores"], config.tokens, 24)
        if layer in config.moe_layers:
            formats |= _softmax_internals(p + "gate", formats[p + "gate_logits"],
                                          config.experts, 24)
    return formats, []


EDGE_MOE_ACTIVATION = _signed(32, 10, "TRN", "WRAP")


def _edge_moe_weight(name: str, head_dim: int) -> FixedFormat:
    """Edge-MoE's formats (ap_fixed<16,0> patch embedding, <16,5> norms, <16,2> linear
    weights), with the addends (biases, the position embedding) at the features' precision
    (Edge-MoE keeps positions there, biases at <16,5> or <16,7>). The query's weights and
    bias carry the folded 1/sqrt(head dim): as many fewer integer bits as it shifts them
    right, so that folding loses nothing of the format's precision."""
    if is_addend(name):
        fmt = EDGE_MOE_ACTIVATION
    elif name == "patch_embed.weight":
        fmt = _signed(16, 0, "TRN", "WRAP")
    elif ".norm" in f".{name}":
        fmt = _signed(16, 5, "TRN", "WRAP")
    else:
        fmt = _signed(16, 2, "TRN", "WRAP")
    if name.endswith((".attn.q.weight", ".attn.q.bias")):
        fmt = _signed(fmt.width, fmt.int_bits - fold_shift(head_dim), "TRN", "WRAP")
    return fmt


def _edge_moe(config: ModelConfig, weights: dict[str, np.ndarray],
              observed: dict[str, float]) -> tuple[dict[str, FixedFormat], list[str]]:
    formats: dict[str, FixedFormat] = {"pixels": PIXELS}
    notes = []
    for name in weight_shapes(config):
        fmt = _edge_moe_weight(name, config.head_dim)
        needed = int_bits_for(float(np.max(np.abs(weights[name]))))
        if needed > fmt.int_bits:
            notes.append(f"{name}: the preset's {fmt.cpp_type} would overflow (max |w| = "
                         f"{float(np.max(np.abs(weights[name]))):.3g}); given {needed} "
                         "integer bits")
            fmt = _signed(fmt.width, needed, "TRN", "WRAP")
        formats[name] = fmt
    for name in activation_names(config):
        bound = observed.get(name, 0.0) * HEADROOM
        if name.endswith((".var", ".inv_std")):
            formats[name] = _unsigned(32, int_bits_for(bound, signed=False), "TRN", "SAT")
        else:
            formats[name] = EDGE_MOE_ACTIVATION
    for layer in range(config.layers):
        p = block_prefix(layer)
        formats |= _softmax_internals(p + "softmax", EDGE_MOE_ACTIVATION, config.tokens, 32)
        if layer in config.moe_layers:
            formats |= _softmax_internals(p + "gate", EDGE_MOE_ACTIVATION, config.experts, 32)
    return formats, notes


def calibrate(config: ModelConfig, weights: dict[str, np.ndarray],
              images: Iterable[np.ndarray], preset: str = "int16",
              tables: Tables = DEFAULT_TABLES) -> QuantSpec:
    """Observe every tensor's range on ``images`` (all tasks) and apply ``preset``."""
    if preset not in PRESETS:
        raise QuantError(f"unknown preset {preset!r}; expected one of {', '.join(PRESETS)}")
    check_finite(weights)
    observer = RangeObserver()
    count = 0
    for image in images:
        for task in config.tasks:
            float_forward(weights, config, image, task, tap=observer)
        count += 1
    if count == 0:
        raise QuantError("calibration needs at least one image")
    not_finite = sorted(name for name, value in observer.max_abs.items()
                        if not math.isfinite(value))
    if not_finite:
        raise QuantError(f"calibration saw NaN or infinite values in {', '.join(not_finite[:3])}")
    rules = _int16 if preset == "int16" else _edge_moe
    formats, notes = rules(config, weights, observer.max_abs)
    problems = [p for p in (format_problem(n, f) for n, f in formats.items()) if p]
    if problems:
        raise QuantError("; ".join(problems[:3]))
    return QuantSpec(preset, formats, tuple(notes), tables, config.layer_norm_eps)


def quantize_weights(weights: dict[str, np.ndarray], spec: QuantSpec,
                     config: ModelConfig) -> dict[str, FixedArray]:
    """Every weight in its format (rounded by the format's mode, as the preset says)."""
    return {name: FixedArray.from_float(np.asarray(weights[name], np.float64), spec.fmt(name))
            for name in weight_shapes(config)}
