"""FixedFormat: validation, names, parsing and the exact result-format rules."""

from __future__ import annotations

import pytest

from edgemoe.sim import (
    FixedFormat,
    accumulator_format,
    difference_format,
    product_format,
    sum_format,
)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"width": 0, "int_bits": 0}, "width"),
        ({"width": -3, "int_bits": 1}, "width"),
        ({"width": 2000, "int_bits": 1}, "width"),
        ({"width": 8.0, "int_bits": 1}, "width"),
        ({"width": 8, "int_bits": "3"}, "int_bits"),
        ({"width": 8, "int_bits": 3, "signed": "yes"}, "signed"),
        ({"width": 8, "int_bits": 3, "rounding": "ROUND"}, "rounding"),
        ({"width": 8, "int_bits": 3, "overflow": "CLAMP"}, "overflow"),
        ({"width": 8, "int_bits": 3, "overflow": None}, "overflow"),
    ],
)
def test_impossible_format_names_the_field(kwargs: dict, field: str) -> None:
    """A format that cannot exist raises ValueError naming the offending field."""
    with pytest.raises(ValueError, match=rf"FixedFormat\.{field}"):
        FixedFormat(**kwargs)


def test_modes_accept_the_cpp_spelling() -> None:
    fmt = FixedFormat(16, 6, rounding="AP_RND_CONV", overflow="ap_sat_sym")
    assert (fmt.rounding, fmt.overflow) == ("RND_CONV", "SAT_SYM")


def test_ranges_and_names() -> None:
    signed = FixedFormat(16, 6)
    assert (signed.min_raw, signed.max_raw, signed.frac_bits) == (-32768, 32767, 10)
    assert (signed.min_value, signed.max_value) == (-32.0, 32.0 - 2**-10)
    assert str(signed) == "Q6.10" and signed.cpp_type == "ap_fixed<16,6>"
    unsigned = FixedFormat(8, 2, signed=False, rounding="RND", overflow="SAT")
    assert (unsigned.min_raw, unsigned.max_raw) == (0, 255)
    assert str(unsigned) == "UQ2.6[RND,SAT]"
    assert unsigned.cpp_type == "ap_ufixed<8,2,AP_RND,AP_SAT>"
    assert FixedFormat(10, 14).lsb == 16.0 and FixedFormat(8, -2).lsb == 2.0**-10


@pytest.mark.parametrize(
    "fmt",
    [FixedFormat(16, 6), FixedFormat(8, 2, False, "RND", "SAT"), FixedFormat(70, -3),
     FixedFormat(24, 30, True, "RND_CONV", "SAT_SYM")],
    ids=str,
)
def test_cpp_type_and_dict_round_trip(fmt: FixedFormat) -> None:
    assert FixedFormat.parse(fmt.cpp_type) == fmt
    assert FixedFormat.from_dict(fmt.to_dict()) == fmt


def test_parse_integer_types_and_defaults() -> None:
    assert FixedFormat.parse("ap_int<12>") == FixedFormat(12, 12)
    assert FixedFormat.parse(" ap_uint< 8 > ") == FixedFormat(8, 8, signed=False)
    assert FixedFormat.parse("ap_fixed<18, 5, AP_RND>").rounding == "RND"


@pytest.mark.parametrize("text", ["float", "ap_fixed<16>", "ap_fixed<a,3>", "ap_int<8,2>",
                                  "ap_fixed<8,3,AP_TRN,AP_WRAP,2>", "ap_fixed<8,3,AP_NEAR>"])
def test_parse_rejects_what_is_not_a_fixed_type(text: str) -> None:
    with pytest.raises(ValueError):
        FixedFormat.parse(text)


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(ValueError, match="unknown FixedFormat fields"):
        FixedFormat.from_dict({"width": 8, "int_bits": 2, "fraction": 6})


def test_result_formats_follow_ap_fixed_rtype() -> None:
    """The rules of ap_fixed_base::RType (checked against the header in the oracle test)."""
    q6_10, uq4_8 = FixedFormat(16, 6), FixedFormat(12, 4, signed=False)
    assert sum_format(q6_10, uq4_8) == FixedFormat(17, 7)
    assert difference_format(uq4_8, uq4_8) == FixedFormat(13, 5, signed=True)
    assert product_format(q6_10, uq4_8) == FixedFormat(28, 10)
    assert accumulator_format(q6_10, q6_10, 768) == FixedFormat(42, 22)
    assert accumulator_format(q6_10, q6_10, 1) == FixedFormat(32, 12)
    with pytest.raises(ValueError, match="length"):
        accumulator_format(q6_10, q6_10, 0)
