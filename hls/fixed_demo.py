"""``edgemoe fixed``: real numbers through ap_fixed formats, Python beside ap_fixed.h."""

from __future__ import annotations

import click
import numpy as np

from edgemoe.sim import FixedArray, FixedFormat

from .ap_fixed_oracle import OracleCase, run_oracle

DEFAULT_VALUES = (3.14159265, -2.71828183, 0.1, 1.5, -1.5, 100.0, -0.0009765625)
DEFAULT_FORMATS = (
    "ap_fixed<8,3>",
    "ap_fixed<8,3,AP_RND,AP_SAT>",
    "ap_fixed<8,3,AP_RND_CONV,AP_SAT_SYM>",
    "ap_ufixed<8,2,AP_RND_INF,AP_SAT>",
    "ap_fixed<16,6,AP_RND,AP_WRAP>",
    "ap_fixed<6,-2,AP_RND_ZERO,AP_SAT>",
)


def _format(_ctx: click.Context, _param: click.Parameter, texts: tuple[str, ...]) -> list:
    try:
        return [FixedFormat.parse(text) for text in texts or DEFAULT_FORMATS]
    except ValueError as err:
        raise click.BadParameter(str(err)) from None


# negative numbers are values, not options
@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("values", nargs=-1, type=float)
@click.option("-f", "--format", "formats", multiple=True, callback=_format,
              help="A C++ type such as 'ap_fixed<16,6,AP_RND,AP_SAT>' (repeatable).")
def fixed(values: tuple[float, ...], formats: list[FixedFormat]) -> None:
    """Quantize VALUES to each format in Python and with ap_fixed.h, side by side."""
    floats = np.array(values or DEFAULT_VALUES, dtype=np.float64)
    batch = [(OracleCase("from_float", (fmt,)), {"a": floats}) for fmt in formats]
    results = run_oracle(batch)
    header = (f"{'value':>14}  {'format':<38} {'raw (py)':>9} {'raw (C++)':>9}  "
              f"{'as real':>12}  same")
    click.echo(header)
    click.echo("-" * len(header))
    mismatches = 0
    for fmt, result in zip(formats, results, strict=True):
        ours = FixedArray.from_float(floats, fmt)
        theirs = result["raw"]
        for value, raw, cpp_raw, real in zip(floats, ours.raw, theirs, ours.to_float(),
                                               strict=True):
            same = int(raw) == int(cpp_raw)
            mismatches += not same
            click.echo(f"{value:>14.10g}  {fmt.cpp_type:<38} {int(raw):>9} {int(cpp_raw):>9}  "
                       f"{real:>12.8g}  {'yes' if same else 'NO'}")
    if mismatches:
        raise click.ClickException(f"{mismatches} values differ between Python and ap_fixed.h")
    click.echo(f"all {len(floats) * len(formats)} conversions equal ap_fixed.h bit for bit")
