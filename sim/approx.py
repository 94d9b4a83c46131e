"""The hardware's approximations of exp, 1/x, 1/sqrt(x) and GELU, in fixed point.

This module is the single source of truth for them: each spec builds its integer tables
(``table()``) and evaluates them (``__call__``) with integer operations a circuit does
(products, adds, shifts, one rounding cast at the end), and the HLS and Verilog generators
emit these same tables. No float touches a value on its way through.

Every intermediate is an integer with a stated number of fraction bits; ``_round_shift``
is a right shift rounding half up (AP_RND). exp and GELU end in one cast through
``quantize``, so they round and saturate exactly as ``ap_fixed`` assignment to the output
type does; 1/x and 1/sqrt(x) round half up to the output's LSB while undoing their
normalization shift, then overflow by the output's mode.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from typing import ClassVar

import numpy as np

from .fixed_array import FixedArray, quantize
from .fixed_format import FixedFormat

LOG2_E = math.log2(math.e)
#: Right shifts beyond this leave nothing of an int64 (and numpy refuses larger ones).
MAX_SHIFT = 62


def _round_shift(values: np.ndarray, amount: int | np.ndarray) -> np.ndarray:
    """``values / 2**amount`` rounded half up (AP_RND); a negative amount shifts left."""
    if isinstance(amount, int):
        if amount > 0:
            return (values + (1 << (amount - 1))) >> amount
        return values << -amount
    amount = np.asarray(amount)
    right = np.clip(amount, 0, MAX_SHIFT)
    left = np.clip(-amount, 0, MAX_SHIFT)
    half = (np.int64(1) << right) >> 1
    return ((values + half) >> right) << left


def _bit_length(values: np.ndarray) -> np.ndarray:
    """Position of the leading one plus one (0 for 0), for non-negative int64 < 2**53."""
    return np.frexp(values.astype(np.float64))[1].astype(np.int64)


def _cast(raw: np.ndarray, frac_bits: int, out: FixedFormat,
          bits: int | None = None) -> FixedArray:
    """Integers with ``frac_bits`` fraction bits (and magnitudes below 2**``bits``, found
    when not given), cast once to ``out`` (its rounding and overflow modes), as assigning
    a wide ap_fixed to the output type."""
    if bits is None:
        bits = int(np.max(np.abs(raw), initial=0)).bit_length() + 2
    wide = FixedFormat(max(bits, 2), max(bits, 2) - frac_bits)
    return FixedArray._trusted(quantize(raw, wide, out), out)


def _frozen(values: np.ndarray) -> np.ndarray:
    values.flags.writeable = False  # shared by every caller of the cached builder
    return values


@cache
def _exp_table(table_bits: int, frac_bits: int) -> np.ndarray:
    steps = np.arange(2**table_bits + 1) / 2**table_bits
    return _frozen(np.round(np.exp2(-steps) * 2**frac_bits).astype(np.int64))


@cache
def _reciprocal_table(seed_bits: int, work_bits: int) -> np.ndarray:
    middle = 1 + (np.arange(2**seed_bits) + 0.5) / 2**seed_bits
    return _frozen(np.round(2**work_bits / middle).astype(np.int64))


@cache
def _rsqrt_table(seed_bits: int, work_bits: int) -> np.ndarray:
    half = 2 ** (seed_bits - 1)
    middle = 1 + (np.arange(half) + 0.5) / half
    middle = np.concatenate([middle, 2 * middle])
    return _frozen(np.round(2**work_bits / np.sqrt(middle)).astype(np.int64))


@cache
def _gelu_table(entries: int, step_bits: int, frac_bits: int) -> np.ndarray:
    points = np.arange(entries + 1) / 2**step_bits
    values = np.round(gelu_correction(points) * 2**frac_bits).astype(np.int64)
    values[-1] = 0
    return _frozen(values)


def _segments(table: np.ndarray, shift: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation on a table: each segment's start ``table[i] << shift`` and its
    fall ``table[i] - table[i + 1]``, so a point is ``start[i] - fall[i] * offset``."""
    return _frozen(table[:-1] << shift), _frozen(table[:-1] - table[1:])


@cache
def _exp_segments(table_bits: int, frac_bits: int) -> tuple[np.ndarray, np.ndarray]:
    return _segments(_exp_table(table_bits, frac_bits), frac_bits - table_bits)


@cache
def _gelu_segments(entries: int, step_bits: int, frac_bits: int,
                   shift: int) -> tuple[np.ndarray, np.ndarray]:
    return _segments(_gelu_table(entries, step_bits, frac_bits), shift)


#: Inputs up to this width are evaluated once for every possible value and then looked up.
LOOKUP_BITS = 16


class _Approximation:
    """Common calling convention: ``evaluate`` is the datapath, in integer operations;
    calling a spec checks the input format and, for inputs of at most ``LOOKUP_BITS`` bits,
    looks the result up in ``evaluate``'s output for every input (the same integers, made
    once per spec, as a circuit would be made once)."""

    name: ClassVar[str]
    input_fmt: FixedFormat
    output_fmt: FixedFormat

    def evaluate(self, x: FixedArray) -> FixedArray:
        raise NotImplementedError

    def __call__(self, x: FixedArray) -> FixedArray:
        if x.fmt != self.input_fmt:
            raise ValueError(f"{self.name} takes values in {self.input_fmt}, got {x.fmt}")
        if self.input_fmt.width <= LOOKUP_BITS:
            outputs = _every_output(self)
            return FixedArray._trusted(outputs[x.raw - self.input_fmt.min_raw], self.output_fmt)
        return self.evaluate(x)


@lru_cache(maxsize=256)
def _every_output(spec: _Approximation) -> np.ndarray:
    fmt = spec.input_fmt
    inputs = FixedArray._trusted(np.arange(fmt.min_raw, fmt.max_raw + 1, dtype=np.int64), fmt)
    return _frozen(np.ascontiguousarray(spec.evaluate(inputs).raw))


@dataclass(frozen=True)
class ExpSpec(_Approximation):
    name: ClassVar[str] = "exp"

    """exp(x) for x <= 0, as 2**(-t) with t = -x*log2(e) = n + f: a table of 2**(-f) on
    ``2**table_bits`` segments of [0, 1) with linear interpolation, then a shift by n."""

    input_fmt: FixedFormat
    output_fmt: FixedFormat
    table_bits: int = 6
    frac_bits: int = 18  # of t = -x*log2(e), of the log2(e) constant and of the table

    def __post_init__(self) -> None:
        if self.output_fmt.signed or self.output_fmt.int_bits < 1:
            raise ValueError(f"exp outputs lie in [0, 1]: its format must be unsigned with "
                             f"an integer bit so 1.0 is exact, got {self.output_fmt}")
        if not 0 < self.table_bits < self.frac_bits:
            raise ValueError("exp needs 0 < table_bits < frac_bits")

    @cached_property
    def log2e_raw(self) -> int:
        return round(LOG2_E * 2**self.frac_bits)

    def table(self) -> np.ndarray:
        """2**(-i / 2**table_bits) for i = 0 .. 2**table_bits, ``frac_bits`` fraction bits."""
        return _exp_table(self.table_bits, self.frac_bits)

    def evaluate(self, x: FixedArray) -> FixedArray:
        fx, ft = self.input_fmt.frac_bits, self.frac_bits
        magnitude = -np.minimum(x.raw, 0)  # exp is only used on x <= 0
        t = _round_shift(magnitude * self.log2e_raw, fx)  # ft fraction bits
        whole, fraction = t >> ft, t & ((1 << ft) - 1)
        segment_bits = ft - self.table_bits
        index, offset = fraction >> segment_bits, fraction & ((1 << segment_bits) - 1)
        # table[i] + (table[i+1] - table[i]) * offset / 2**segment_bits, kept exact
        start, fall = _exp_segments(self.table_bits, self.frac_bits)
        value = start[index] - fall[index] * offset
        value = value >> np.minimum(whole, MAX_SHIFT)  # below 2**(ft + segment_bits + 1)
        return _cast(value, ft + segment_bits, self.output_fmt, bits=ft + segment_bits + 2)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return np.exp(x)


@dataclass(frozen=True)
class ReciprocalSpec(_Approximation):
    name: ClassVar[str] = "reciprocal"

    """1/x for x > 0: normalize x to m in [1, 2) by its leading one, seed 1/m from a table
    on the top ``seed_bits`` bits of m, refine with Newton steps r <- r (2 - m r)."""

    input_fmt: FixedFormat
    output_fmt: FixedFormat
    seed_bits: int = 6
    newton_steps: int = 1
    work_bits: int = 20  # fraction bits of m, r and the Newton products

    def table(self) -> np.ndarray:
        """1 / (segment midpoint) for the ``2**seed_bits`` segments of [1, 2)."""
        return _reciprocal_table(self.seed_bits, self.work_bits)

    def evaluate(self, x: FixedArray) -> FixedArray:
        w = self.work_bits
        raw = np.maximum(x.raw, 1)  # 1/0 saturates like 1/lsb
        length = _bit_length(raw)
        # m: w+1 bits, leading one at bit w, so m / 2**w is in [1, 2)
        mantissa = np.where(length <= w + 1, raw << np.maximum(w + 1 - length, 0),
                            raw >> np.maximum(length - w - 1, 0))
        r = self.table()[(mantissa >> (w - self.seed_bits)) & ((1 << self.seed_bits) - 1)]
        for _ in range(self.newton_steps):
            product = _round_shift(mantissa * r, w)  # m r, w fraction bits
            r = _round_shift(r * ((2 << w) - product), w)
        # x = (m / 2**w) * 2**(length - 1 - fx), so 1/x = (r / 2**w) * 2**(fx + 1 - length);
        # one rounding to the output's LSB, then its overflow mode
        fo = self.output_fmt.frac_bits
        scale = self.input_fmt.frac_bits + 1 - length
        return _cast(_round_shift(r, w - fo - scale), fo, self.output_fmt)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / x


@dataclass(frozen=True)
class RsqrtSpec(_Approximation):
    name: ClassVar[str] = "rsqrt"

    """1/sqrt(x) for x > 0: normalize x to m in [1, 4) with an even exponent, seed from a
    table on (exponent parity, top mantissa bits), refine with r <- r (3 - m r^2) / 2."""

    input_fmt: FixedFormat
    output_fmt: FixedFormat
    seed_bits: int = 6
    newton_steps: int = 1
    work_bits: int = 20

    def table(self) -> np.ndarray:
        """1/sqrt(segment midpoint): first the segments of [1, 2), then of [2, 4)."""
        return _rsqrt_table(self.seed_bits, self.work_bits)

    def evaluate(self, x: FixedArray) -> FixedArray:
        w = self.work_bits
        raw = np.maximum(x.raw, 1)
        length = _bit_length(raw)
        exponent = length - 1 - self.input_fmt.frac_bits  # x = (m / 2**w) * 2**exponent
        odd = exponent & 1
        mantissa = np.where(length <= w + 1, raw << np.maximum(w + 1 - length, 0),
                            raw >> np.maximum(length - w - 1, 0))
        mantissa = mantissa << odd  # now in [1, 4) with an even exponent left
        half_bits = self.seed_bits - 1
        top = (mantissa >> (w + odd - half_bits)) & ((1 << half_bits) - 1)
        r = self.table()[(odd << half_bits) | top]
        for _ in range(self.newton_steps):
            square = _round_shift(r * r, w)
            product = _round_shift(mantissa * square, w)  # m r^2
            r = _round_shift(r * ((3 << w) - product), w + 1)
        # 1/sqrt(x) = (r / 2**w) * 2**(-(exponent - odd) / 2), rounded once to the output
        fo = self.output_fmt.frac_bits
        return _cast(_round_shift(r, w - fo + ((exponent - odd) >> 1)), fo, self.output_fmt)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / np.sqrt(x)


_erf = np.frompyfunc(math.erf, 1, 1)


def gelu_reference(x: np.ndarray) -> np.ndarray:
    """x * Phi(x) in float64 (math.erf per element: exact, not fast)."""
    x = np.asarray(x, dtype=np.float64)
    return x * 0.5 * (1.0 + _erf(x / math.sqrt(2.0)).astype(np.float64))


def gelu_correction(a: np.ndarray) -> np.ndarray:
    """d(a) = a * Phi(-a) = ReLU(a) - GELU(a) for a >= 0."""
    return a - gelu_reference(a)


@dataclass(frozen=True)
class GeluSpec(_Approximation):
    name: ClassVar[str] = "gelu"

    """GELU(x) = ReLU(x) - d(|x|), d(a) = a * Phi(-a) tabulated every ``2**-step_bits`` on
    [0, limit) with linear interpolation, and 0 from ``limit`` on (Edge-MoE's method)."""

    input_fmt: FixedFormat
    output_fmt: FixedFormat
    step_bits: int = 6
    limit: float = 5.0
    frac_bits: int = 20  # of the table entries

    @property
    def entries(self) -> int:
        return int(self.limit * 2**self.step_bits)

    def table(self) -> np.ndarray:
        """d(i * step) for i = 0 .. entries (the last is the limit, where d is taken as 0)."""
        return _gelu_table(self.entries, self.step_bits, self.frac_bits)

    def evaluate(self, x: FixedArray) -> FixedArray:
        fx, g = self.input_fmt.frac_bits, self.frac_bits
        magnitude = np.abs(x.raw)
        if fx >= self.step_bits:
            offset_bits = fx - self.step_bits
            index = magnitude >> offset_bits
            offset = magnitude & ((1 << offset_bits) - 1)
        else:
            offset_bits, index, offset = 0, magnitude << (self.step_bits - fx), 0 * magnitude
        inside = index < self.entries
        index = np.minimum(index, self.entries - 1)
        start, fall = _gelu_segments(self.entries, self.step_bits, self.frac_bits,
                                     offset_bits)
        correction = start[index] - fall[index] * offset
        correction = np.where(inside, correction, 0)  # g + offset_bits fraction bits
        frac = g + offset_bits
        relu = np.maximum(x.raw, 0) << (frac - fx)  # exact: frac >= fx as frac_bits >= step_bits
        bits = max(self.input_fmt.width + frac - fx, g + offset_bits) + 2
        return _cast(relu - correction, frac, self.output_fmt, bits=bits)

    def reference(self, x: np.ndarray) -> np.ndarray:
        return gelu_reference(x)


# ------------------------------------------------------------------- table parameters
def _in_range(owner: str, field: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise ValueError(f"{owner}.{field} must be in [{low:g}, {high:g}], got {value!r}")


@dataclass(frozen=True)
class ExpTable:
    """exp's table: ``2**table_bits`` segments, entries and t with ``frac_bits`` fraction
    bits (at most 24, so |x| * log2(e) stays within an int64 for 32-bit inputs)."""

    table_bits: int = ExpSpec.table_bits
    frac_bits: int = ExpSpec.frac_bits

    def __post_init__(self) -> None:
        _in_range("exp", "table_bits", self.table_bits, 1, 10)
        _in_range("exp", "frac_bits", self.frac_bits, self.table_bits + 1, 24)


@dataclass(frozen=True)
class NewtonTable:
    """1/x or 1/sqrt(x): a seed table on ``seed_bits`` mantissa bits, Newton steps, and the
    work width of the steps (at most 28 bits, so their products fit an int64)."""

    seed_bits: int = ReciprocalSpec.seed_bits
    newton_steps: int = ReciprocalSpec.newton_steps
    work_bits: int = ReciprocalSpec.work_bits

    def __post_init__(self) -> None:
        _in_range("newton", "seed_bits", self.seed_bits, 2, 10)
        _in_range("newton", "newton_steps", self.newton_steps, 0, 3)
        _in_range("newton", "work_bits", self.work_bits, self.seed_bits + 1, 28)


@dataclass(frozen=True)
class GeluTable:
    """GELU's correction table: one entry every ``2**-step_bits`` up to ``limit``, entries
    with ``frac_bits`` fraction bits."""

    step_bits: int = GeluSpec.step_bits
    limit: float = GeluSpec.limit
    frac_bits: int = GeluSpec.frac_bits

    def __post_init__(self) -> None:
        _in_range("gelu", "step_bits", self.step_bits, 1, 10)
        _in_range("gelu", "limit", self.limit, 2.0**-self.step_bits, 16)
        _in_range("gelu", "frac_bits", self.frac_bits, self.step_bits, 24)
        if float(self.limit * 2**self.step_bits) != int(self.limit * 2**self.step_bits):
            raise ValueError(f"gelu.limit {self.limit} is not a whole number of "
                             f"2**-{self.step_bits} steps")


@dataclass(frozen=True)
class Tables:
    """The parameters of the four tables. The hardware builds one table per function, so
    every use site of a function shares them; only the formats differ between sites."""

    exp: ExpTable = ExpTable()
    reciprocal: NewtonTable = NewtonTable()
    rsqrt: NewtonTable = NewtonTable()
    gelu: GeluTable = GeluTable()

    def exp_spec(self, input_fmt: FixedFormat, output_fmt: FixedFormat) -> ExpSpec:
        return ExpSpec(input_fmt, output_fmt, **dataclasses.asdict(self.exp))

    def reciprocal_spec(self, input_fmt: FixedFormat, output_fmt: FixedFormat,
                        ) -> ReciprocalSpec:
        return ReciprocalSpec(input_fmt, output_fmt, **dataclasses.asdict(self.reciprocal))

    def rsqrt_spec(self, input_fmt: FixedFormat, output_fmt: FixedFormat) -> RsqrtSpec:
        return RsqrtSpec(input_fmt, output_fmt, **dataclasses.asdict(self.rsqrt))

    def gelu_spec(self, input_fmt: FixedFormat, output_fmt: FixedFormat) -> GeluSpec:
        return GeluSpec(input_fmt, output_fmt, **dataclasses.asdict(self.gelu))


# ------------------------------------------------------------------- defaults and errors
Spec = ExpSpec | ReciprocalSpec | RsqrtSpec | GeluSpec


@dataclass(frozen=True)
class Domain:
    """An approximation with the formats it is used at, and its input range there."""

    name: str
    spec: Spec
    low: float
    high: float


def default_domains() -> list[Domain]:
    """The approximations at the int16 preset's formats for them."""
    exp = ExpSpec(FixedFormat(16, 7), FixedFormat(16, 1, False, "RND", "SAT"))
    # softmax 1/sum: the sum is at least exp(0) = 1 and at most the key count
    reciprocal = ReciprocalSpec(FixedFormat(24, 8, False), FixedFormat(24, 1, False, "RND", "SAT"))
    # LayerNorm 1/sqrt(var + eps)
    rsqrt = RsqrtSpec(FixedFormat(24, 8, False), FixedFormat(24, 6, False, "RND", "SAT"))
    gelu = GeluSpec(FixedFormat(16, 4), FixedFormat(16, 4, True, "RND", "SAT"))
    return [Domain("exp", exp, exp.input_fmt.min_value, 0.0),
            Domain("reciprocal", reciprocal, 1.0, reciprocal.input_fmt.max_value),
            Domain("rsqrt", rsqrt, 2.0**-10, rsqrt.input_fmt.max_value),
            Domain("gelu", gelu, gelu.input_fmt.min_value, gelu.input_fmt.max_value)]


@dataclass(frozen=True)
class ApproxError:
    inputs: np.ndarray
    outputs: np.ndarray
    exact: np.ndarray  # float64, clipped to the output format's range

    @property
    def abs_error(self) -> np.ndarray:
        return np.abs(self.outputs - self.exact)

    @property
    def rel_error(self) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            return self.abs_error / np.abs(self.exact)


def measure(domain: Domain, max_points: int = 1 << 22) -> ApproxError:
    """Every representable input in the domain's range (evenly thinned past
    ``max_points``) through the approximation, beside float64."""
    fmt = domain.spec.input_fmt
    low = max(fmt.min_raw, math.ceil(domain.low * 2**fmt.frac_bits))
    high = min(fmt.max_raw, math.floor(domain.high * 2**fmt.frac_bits))
    step = max(1, (high - low + 1) // max_points)
    raw = np.arange(low, high + 1, step, dtype=np.int64)
    x = FixedArray(raw, fmt)
    out = domain.spec.output_fmt
    exact = np.clip(domain.spec.reference(x.to_float()), out.min_value, out.max_value)
    return ApproxError(x.to_float(), domain.spec(x).to_float(), exact)
