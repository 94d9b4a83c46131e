"""Run the cocotb testbench of one generated unit and say whether it matched ``sim``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .cocotb_run import run_testbench
from .generate import unit_sources

TESTED_UNITS = ("gelu_unit", "exp_unit", "recip_unit", "rsqrt_unit", "softmax_update",
                "softmax_finalize", "mac_tile")


def check_unit(rtl_dir: str | Path, module: str, simulator: str = "verilator",
               samples: int = 100_000, exhaustive: bool = True, seed: int = 1,
               ) -> dict[str, Any]:
    """The testbench's report for ``module`` (``passed``: every output bit-exact, at the
    unit's latency, back to back and with stalls)."""
    rtl_dir = Path(rtl_dir).resolve()
    return run_testbench(unit_sources(rtl_dir, module), module,
                         "edgemoe.sim.testbenches.units_tb", module, simulator=simulator,
                         env={"EDGEMOE_RTL_DIR": str(rtl_dir), "EDGEMOE_TB_SAMPLES": str(samples),
                              "EDGEMOE_TB_EXHAUSTIVE": str(int(exhaustive)),
                              "EDGEMOE_TB_SEED": str(seed)})
