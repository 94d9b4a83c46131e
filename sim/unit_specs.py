"""What the hardware units are generated from: one spec per unit, as ``sim`` defines them.

The RTL generator (``edgemoe.hls.rtl``) writes these to ``units.json`` beside the Verilog,
and the cocotb testbenches (``edgemoe.sim.testbenches``) read them back to compute what
each unit must output, so the Verilog and its check come from the same numbers.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError

from .approx import (
    ExpSpec,
    ExpTable,
    GeluSpec,
    GeluTable,
    NewtonTable,
    ReciprocalSpec,
    RsqrtSpec,
    Tables,
    default_domains,
)
from .fixed_format import FixedFormat
from .kernels import SoftmaxSpec
from .manifest import Manifest
from .schema import Record, describe


@dataclass(frozen=True)
class MacSpec:
    """The linear unit's tile: TILE_IN inputs times TILE_IN x TILE_OUT weights per cycle,
    accumulated exactly over up to ``max_reduction`` inputs, cast once to ``out_fmt``."""

    x_fmt: FixedFormat
    w_fmt: FixedFormat
    out_fmt: FixedFormat
    tile_in: int
    tile_out: int
    max_reduction: int

    @property
    def acc_frac(self) -> int:
        return self.x_fmt.frac_bits + self.w_fmt.frac_bits


@dataclass(frozen=True)
class VectorKernelSpec:
    """``vector_kernel``: reads ``count`` feature words from one address, applies GELU
    (``op`` 0) or exp (``op`` 1) to each, writes them to another. Features are packed
    ``lanes`` to an AXI word, each sign-extended (signed formats) or zero-extended to
    ``feature_bits``; the last word's unused lanes are not written."""

    gelu: GeluSpec
    exp: ExpSpec
    axi_bits: int = 256
    max_burst: int = 64  # beats per AXI burst (never crossing a 4 KiB boundary)

    OPS = ("gelu", "exp")

    @property
    def feature_bits(self) -> int:
        widest = max(f.width for s in (self.gelu, self.exp)
                     for f in (s.input_fmt, s.output_fmt))
        return next(b for b in (8, 16, 32) if widest <= b) if widest <= 32 else 64

    @property
    def lanes(self) -> int:
        return self.axi_bits // self.feature_bits

    def unit(self, op: int) -> GeluSpec | ExpSpec:
        return (self.gelu, self.exp)[op]

    def to_dict(self) -> dict[str, Any]:
        return {"axi_bits": self.axi_bits, "max_burst": self.max_burst}


@dataclass(frozen=True)
class UnitSpecs:
    """Everything the units are generated from."""

    gelu: GeluSpec
    exp: ExpSpec
    reciprocal: ReciprocalSpec
    rsqrt: RsqrtSpec
    softmax: SoftmaxSpec
    score_fmt: FixedFormat
    mac: MacSpec
    vector: VectorKernelSpec

    @classmethod
    def defaults(cls) -> UnitSpecs:
        domains = {d.name: d.spec for d in default_domains()}
        exp, reciprocal = domains["exp"], domains["reciprocal"]
        softmax = SoftmaxSpec(exp, reciprocal.input_fmt, reciprocal,
                              FixedFormat(16, 1, False, "RND", "SAT"))
        feature = FixedFormat(16, 6, True, "RND", "SAT")
        mac = MacSpec(feature, FixedFormat(16, 1), feature, 16, 16, 4096)
        return cls(domains["gelu"], exp, reciprocal, domains["rsqrt"], softmax,
                   FixedFormat(16, 7), mac, VectorKernelSpec(domains["gelu"], exp))

    @classmethod
    def from_manifest(cls, manifest: Manifest, layer: int = 0) -> UnitSpecs:
        """The units at one layer's formats of an artifact (a dense layer for GELU)."""
        spec, config, accelerator = manifest.spec, manifest.config, manifest.accelerator
        dense = next(i for i in range(config.layers) if i not in config.moe_layers)
        gelu = spec.gelu(f"blocks.{dense}.")
        p = f"blocks.{layer}."
        softmax = spec.softmax(p + "softmax")
        rsqrt = spec.layer_norm(p + "norm1").rsqrt
        mac = MacSpec(spec.fmt(p + "norm1"), spec.fmt(p + "attn.q.weight"), spec.fmt(p + "q"),
                      accelerator.tile_in, accelerator.tile_out, config.mlp_hidden)
        return cls(gelu, softmax.exp, softmax.reciprocal, rsqrt, softmax,
                   spec.fmt(p + "scores"), mac, VectorKernelSpec(gelu, softmax.exp))

    def to_dict(self) -> dict[str, Any]:
        def approx(spec: GeluSpec | ExpSpec | ReciprocalSpec | RsqrtSpec) -> dict[str, Any]:
            fields = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)
                      if f.name not in ("input_fmt", "output_fmt")}
            return {"input": spec.input_fmt.to_dict(), "output": spec.output_fmt.to_dict(),
                    **fields}

        return {"gelu": approx(self.gelu), "exp": approx(self.exp),
                "reciprocal": approx(self.reciprocal), "rsqrt": approx(self.rsqrt),
                "softmax": {"sum": self.softmax.sum_fmt.to_dict(),
                            "prob": self.softmax.prob_fmt.to_dict()},
                "score": self.score_fmt.to_dict(),
                "mac": {"x": self.mac.x_fmt.to_dict(), "w": self.mac.w_fmt.to_dict(),
                        "out": self.mac.out_fmt.to_dict(), "tile_in": self.mac.tile_in,
                        "tile_out": self.mac.tile_out,
                        "max_reduction": self.mac.max_reduction},
                "vector": self.vector.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> UnitSpecs:
        """Read back ``to_dict``'s output (``units.json``): every field typed and in range,
        or a ValueError naming the first problem."""
        try:
            entry = _UnitSpecsFile.model_validate_json(json.dumps(data, allow_nan=False))
            tables = Tables(ExpTable(entry.exp.table_bits, entry.exp.frac_bits),
                            entry.reciprocal.table(), entry.rsqrt.table(),
                            GeluTable(entry.gelu.step_bits, entry.gelu.limit,
                                      entry.gelu.frac_bits))
        except ValidationError as err:
            raise ValueError(describe(err, "unit specs")) from None
        except TypeError as err:
            raise ValueError(f"unit specs: not plain values ({err})") from None
        exp = tables.exp_spec(entry.exp.input, entry.exp.output)
        reciprocal = tables.reciprocal_spec(entry.reciprocal.input, entry.reciprocal.output)
        gelu = tables.gelu_spec(entry.gelu.input, entry.gelu.output)
        mac = entry.mac
        return cls(gelu, exp, reciprocal, tables.rsqrt_spec(entry.rsqrt.input, entry.rsqrt.output),
                   SoftmaxSpec(exp, entry.softmax.sum, reciprocal, entry.softmax.prob),
                   entry.score,
                   MacSpec(mac.x, mac.w, mac.out, mac.tile_in, mac.tile_out, mac.max_reduction),
                   VectorKernelSpec(gelu, exp, entry.vector.axi_bits, entry.vector.max_burst))


class _Formats(Record):
    input: FixedFormat
    output: FixedFormat


class _ExpEntry(_Formats):
    table_bits: int
    frac_bits: int


class _NewtonEntry(_Formats):
    seed_bits: int
    newton_steps: int
    work_bits: int

    def table(self) -> NewtonTable:
        return NewtonTable(self.seed_bits, self.newton_steps, self.work_bits)


class _GeluEntry(_Formats):
    step_bits: int
    limit: float
    frac_bits: int


class _SoftmaxEntry(Record):
    sum: FixedFormat
    prob: FixedFormat


class _MacEntry(Record):
    x: FixedFormat
    w: FixedFormat
    out: FixedFormat
    tile_in: Annotated[int, Field(ge=1, le=256)]
    tile_out: Annotated[int, Field(ge=1, le=256)]
    max_reduction: Annotated[int, Field(ge=1, le=1 << 20)]


class _VectorEntry(Record):
    axi_bits: Literal[128, 256, 512]
    max_burst: Annotated[int, Field(ge=1, le=256)]


class _UnitSpecsFile(Record):
    """``UnitSpecs.to_dict()`` as a schema: what ``units.json`` must hold."""

    gelu: _GeluEntry
    exp: _ExpEntry
    reciprocal: _NewtonEntry
    rsqrt: _NewtonEntry
    softmax: _SoftmaxEntry
    score: FixedFormat
    mac: _MacEntry
    vector: _VectorEntry
