"""The emulated board's kernel as the generated C++ (a shared library built with g++), for
``edgemoe run --emulate csim``: it needs the code generators, so it lives in the flow."""

from __future__ import annotations

from pathlib import Path

from edgemoe.hls.csim import CsimKernel
from edgemoe.hls.generator import generate
from edgemoe.host.emulator import EmulatedDevice
from edgemoe.sim.manifest import Manifest


class CsimBackend:
    """The generated C++ kernel (shared library) on the emulated DDR."""

    def __init__(self, manifest: Manifest, project: Path) -> None:
        self.manifest = manifest
        self.kernel = CsimKernel(project)

    def run(self, device: EmulatedDevice, arguments: dict[str, int]) -> None:
        count = arguments["num_images"]
        self.kernel.run(
            device.memory(arguments["weights"], self.manifest.weights.bytes),
            device.memory(arguments["images"], count * self.kernel.image_bytes),
            device.memory(arguments["tokens"], count * self.kernel.token_bytes),
            device.memory(arguments["scratch"], self.kernel.scratch_bytes),
            arguments["task_index"], count, arguments["debug"] != 0)


def csim_backend(manifest: Manifest, artifact: Path, workdir: Path) -> CsimBackend:
    """Generate the artifact's HLS project into ``workdir/hls`` and load its kernel."""
    return CsimBackend(manifest, generate(artifact, workdir / "hls"))
