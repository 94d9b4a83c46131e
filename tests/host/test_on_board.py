"""The board's Python has numpy and pynq but no torch (nor onnx, onnxruntime, hls4ml or
cocotb): ``sim`` and ``host`` must import and run there. A subprocess where importing
those fails stands in for the PYNQ image."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ABSENT_ON_BOARD = ("torch", "onnx", "onnxruntime", "onnxscript", "hls4ml", "cocotb",
                   "cocotbext")

SCRIPT = textwrap.dedent("""
    import importlib, importlib.abc, pkgutil, sys

    ABSENT = {absent!r}

    class NotOnTheBoard(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ABSENT:
                raise ImportError(f"{{name}} is not installed on the board")
            return None

    sys.meta_path.insert(0, NotOnTheBoard())
    import edgemoe.host, edgemoe.sim
    for package in (edgemoe.sim, edgemoe.host):
        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{{package.__name__}}.{{module.name}}")

    from edgemoe.host.flow.cli import main
    main(["run", {artifact!r}, "--emulate", "sim", "--validate", "2", "--task", "depth",
          "-o", {out!r}], standalone_mode=False)
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in ABSENT)
    print("absent modules loaded:", loaded)
""")


def test_sim_and_host_run_without_torch(tiny_artifact: Path, tmp_path: Path) -> None:
    script = SCRIPT.format(absent=ABSENT_ON_BOARD, artifact=str(tiny_artifact),
                           out=str(tmp_path / "report"))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "validation: 2 of 2 runs bit-exact" in done.stdout
    assert "absent modules loaded: []" in done.stdout
    assert (tmp_path / "report" / "run.json").is_file()
