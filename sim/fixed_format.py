"""Fixed-point formats with the semantics of Xilinx ``ap_fixed`` / ``ap_ufixed``.

A format is ``(width, int_bits, signed, rounding, overflow)``, exactly the template
parameters ``ap_fixed<W, I, Q, O>`` (``ap_ufixed`` when unsigned). ``int_bits`` counts
the sign bit, may be <= 0 (all bits are fraction) or > ``width`` (the LSB weighs more
than 1). Formats print as Q-formats: ``Q6.10`` is ``ap_fixed<16,6>``, ``UQ2.6`` is
``ap_ufixed<8,2>``.

The result-format rules below are those of ``ap_fixed_base::RType``: an add, subtract
or multiply in ``ap_fixed`` never loses a bit, and neither does ours.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

ROUNDING_MODES = ("TRN", "TRN_ZERO", "RND", "RND_ZERO", "RND_MIN_INF", "RND_INF", "RND_CONV")
OVERFLOW_MODES = ("WRAP", "SAT", "SAT_ZERO", "SAT_SYM")

#: ap_int's default ceiling (AP_INT_MAX_W); wider types do not compile.
MAX_WIDTH = 1024

#: Raw values of formats up to this many bits (and intermediates that fit in it) live in
#: int64 arrays; wider ones in object arrays of Python ints, which are exact but slow.
INT64_BITS = 62


def _mode_name(value: Any, field: str, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise ValueError(f"FixedFormat.{field} must be a string such as {allowed[0]!r}, "
                         f"got {value!r}")
    name = value.upper()
    name = name[3:] if name.startswith("AP_") else name
    if name not in allowed:
        raise ValueError(f"FixedFormat.{field}={value!r} is not an ap_fixed mode; "
                         f"expected one of {', '.join(allowed)}")
    return name


@dataclass(frozen=True)
class FixedFormat:
    """One ``ap_fixed<width, int_bits, AP_<rounding>, AP_<overflow>>`` (or ``ap_ufixed``).

    ``rounding`` applies when a value loses fraction bits on a cast, ``overflow`` when
    it does not fit the integer range; arithmetic results are exact and never round.
    """

    width: int
    int_bits: int
    signed: bool = True
    rounding: str = "TRN"
    overflow: str = "WRAP"

    def __post_init__(self) -> None:
        if (type(self.width) is int and type(self.int_bits) is int
                and type(self.signed) is bool and 1 <= self.width <= MAX_WIDTH
                and type(self.rounding) is str and self.rounding in ROUNDING_MODES
                and type(self.overflow) is str and self.overflow in OVERFLOW_MODES):
            return  # already canonical: formats are made on every kernel call
        if isinstance(self.width, bool) or not isinstance(self.width, (int, np.integer)):
            raise ValueError(f"FixedFormat.width must be an int, got {self.width!r}")
        if not 1 <= self.width <= MAX_WIDTH:
            raise ValueError(f"FixedFormat.width must be in [1, {MAX_WIDTH}], "
                             f"got {self.width}")
        if isinstance(self.int_bits, bool) or not isinstance(self.int_bits, (int, np.integer)):
            raise ValueError(f"FixedFormat.int_bits must be an int, got {self.int_bits!r}")
        if not isinstance(self.signed, (bool, np.bool_)):
            raise ValueError(f"FixedFormat.signed must be a bool, got {self.signed!r}")
        object.__setattr__(self, "width", int(self.width))
        object.__setattr__(self, "int_bits", int(self.int_bits))
        object.__setattr__(self, "signed", bool(self.signed))
        object.__setattr__(self, "rounding",
                           _mode_name(self.rounding, "rounding", ROUNDING_MODES))
        object.__setattr__(self, "overflow",
                           _mode_name(self.overflow, "overflow", OVERFLOW_MODES))

    # ----------------------------------------------------------------- derived sizes
    @property
    def frac_bits(self) -> int:
        return self.width - self.int_bits

    @property
    def min_raw(self) -> int:
        return -(1 << (self.width - 1)) if self.signed else 0

    @property
    def max_raw(self) -> int:
        return (1 << (self.width - 1)) - 1 if self.signed else (1 << self.width) - 1

    @property
    def magnitude_bits(self) -> int:
        """Smallest m with |raw| <= 2**m for every raw value."""
        return self.width - 1 if self.signed else self.width

    @property
    def lsb(self) -> float:
        return math.ldexp(1.0, -self.frac_bits)

    @property
    def min_value(self) -> float:
        return math.ldexp(float(self.min_raw), -self.frac_bits)

    @property
    def max_value(self) -> float:
        return math.ldexp(float(self.max_raw), -self.frac_bits)

    @property
    def storage(self) -> np.dtype:
        """dtype of raw arrays of this format: int64, or object beyond INT64_BITS."""
        return np.dtype(np.int64) if self.width <= INT64_BITS else np.dtype(object)

    def with_modes(self, rounding: str | None = None,
                   overflow: str | None = None) -> FixedFormat:
        return dataclasses.replace(self, rounding=rounding or self.rounding,
                                   overflow=overflow or self.overflow)

    # ----------------------------------------------------------------- names
    @property
    def q_name(self) -> str:
        return f"{'' if self.signed else 'U'}Q{self.int_bits}.{self.frac_bits}"

    @property
    def cpp_type(self) -> str:
        """The C++ type, with modes spelled out only where they are not the defaults."""
        base = "ap_fixed" if self.signed else "ap_ufixed"
        args = [str(self.width), str(self.int_bits)]
        if (self.rounding, self.overflow) != ("TRN", "WRAP"):
            args += [f"AP_{self.rounding}", f"AP_{self.overflow}"]
        return f"{base}<{','.join(args)}>"

    def __str__(self) -> str:
        if (self.rounding, self.overflow) == ("TRN", "WRAP"):
            return self.q_name
        return f"{self.q_name}[{self.rounding},{self.overflow}]"

    _CPP = re.compile(r"^\s*ap_(u?)(fixed|int)\s*<\s*([^>]*)>\s*$")

    @classmethod
    def parse(cls, text: str) -> FixedFormat:
        """Read a C++ type: ``ap_fixed<16,6,AP_RND,AP_SAT>``, ``ap_ufixed<8,2>``, ``ap_int<12>``."""
        match = cls._CPP.match(text)
        if not match:
            raise ValueError(f"cannot read {text!r} as a fixed-point type; expected for "
                             "example 'ap_fixed<16,6,AP_RND,AP_SAT>' or 'ap_uint<8>'")
        unsigned, kind, params = match.groups()
        args = [a.strip() for a in params.split(",")]
        try:
            width = int(args[0])
            if kind == "int":
                if len(args) != 1:
                    raise ValueError
                return cls(width, width, signed=not unsigned)
            if not 2 <= len(args) <= 5:
                raise ValueError
            int_bits = int(args[1])
            if len(args) == 5 and int(args[4]) != 0:
                raise ValueError(f"{text!r}: saturation bits (the N of ap_fixed<W,I,Q,O,N>) "
                                 "are not supported; use N=0")
        except ValueError as err:
            if str(err):
                raise
            raise ValueError(f"cannot read the parameters of {text!r}") from None
        rounding = args[2] if len(args) > 2 else "TRN"
        overflow = args[3] if len(args) > 3 else "WRAP"
        return cls(width, int_bits, signed=not unsigned, rounding=rounding, overflow=overflow)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FixedFormat:
        unknown = set(data) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ValueError(f"unknown FixedFormat fields {sorted(unknown)}")
        return cls(**data)


# --------------------------------------------------------------------- result formats
def _aligned_int_bits(a: FixedFormat, b: FixedFormat) -> int:
    """Integer bits that hold both operands once mixed signedness is accounted for."""
    return max(a.int_bits + (b.signed and not a.signed), b.int_bits + (a.signed and not b.signed))


@lru_cache(maxsize=4096)
def sum_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Format of ``a + b`` (``RType::plus``): one carry bit over the wider operand."""
    int_bits = _aligned_int_bits(a, b) + 1
    return FixedFormat(int_bits + max(a.frac_bits, b.frac_bits), int_bits, a.signed or b.signed)


@lru_cache(maxsize=4096)
def difference_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Format of ``a - b`` (``RType::minus``): as the sum, but always signed."""
    int_bits = _aligned_int_bits(a, b) + 1
    return FixedFormat(int_bits + max(a.frac_bits, b.frac_bits), int_bits, True)


@lru_cache(maxsize=4096)
def product_format(a: FixedFormat, b: FixedFormat) -> FixedFormat:
    """Format of ``a * b`` (``RType::mult``): widths and integer bits add."""
    return FixedFormat(a.width + b.width, a.int_bits + b.int_bits, a.signed or b.signed)


@lru_cache(maxsize=4096)
def negation_format(a: FixedFormat) -> FixedFormat:
    """Format of ``-a``: one bit wider and signed, so ``-min`` fits."""
    return FixedFormat(a.width + 1, a.int_bits + 1, True)


def growth_bits(count: int) -> int:
    """The bits a sum of ``count`` terms grows by: ceil(log2(count)), 0 for one or none."""
    return max(count - 1, 0).bit_length()


def sum_of_format(fmt: FixedFormat, count: int) -> FixedFormat:
    """Format that holds any sum of ``count`` values of ``fmt`` (modes left default)."""
    growth = growth_bits(count)
    return FixedFormat(fmt.width + growth, fmt.int_bits + growth, fmt.signed)


@lru_cache(maxsize=4096)
def accumulator_format(a: FixedFormat, b: FixedFormat, length: int) -> FixedFormat:
    """Format that holds any sum of ``length`` products ``a*b`` without overflow.

    The product format plus ``ceil(log2(length))`` integer bits: ``length`` products of
    magnitude at most ``2**(Wa+Wb-2)`` (signed) or below ``2**(Wa+Wb)`` (unsigned) fit.
    """
    if length < 1:
        raise ValueError(f"accumulator length must be >= 1, got {length}")
    return sum_of_format(product_format(a, b), length)
