"""``edgemoe run`` as the CLI offers it: the board, or an emulated one running the Python
simulator or the generated C++."""

from __future__ import annotations

from edgemoe.host.commands import run_command
from edgemoe.host.emulator import sim_backend

from .csim_backend import csim_backend

run = run_command({"sim": sim_backend, "csim": csim_backend})
