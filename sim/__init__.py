"""Bit-accurate simulation: numpy only, runs on the board too (no torch)."""

from .fixed_array import FixedArray, quantize, quantize_float
from .fixed_format import (
    OVERFLOW_MODES,
    ROUNDING_MODES,
    FixedFormat,
    accumulator_format,
    difference_format,
    negation_format,
    product_format,
    sum_format,
)
from .fx_matmul import fx_matmul

__all__ = [
    "OVERFLOW_MODES",
    "ROUNDING_MODES",
    "FixedArray",
    "FixedFormat",
    "accumulator_format",
    "difference_format",
    "fx_matmul",
    "negation_format",
    "product_format",
    "quantize",
    "quantize_float",
    "sum_format",
]
