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
        buffers = manifest.buffers
        compiled = (self.kernel.image_bytes, self.kernel.token_bytes, self.kernel.scratch_bytes)
        expected = (buffers.image_bytes, buffers.token_bytes, buffers.scratch_bytes)
        if compiled != expected:
            raise ValueError(f"the kernel compiled in {project} has image, token and scratch "
                             f"buffers of {compiled} bytes, the manifest {expected}: generate "
                             "it again")

    def run(self, device: EmulatedDevice, arguments: dict[str, int]) -> None:
        count, buffers = arguments["num_images"], self.manifest.buffers
        self.kernel.run(
            device.memory(arguments["weights"], self.manifest.weights.bytes),
            device.memory(arguments["images"], count * buffers.image_bytes),
            device.memory(arguments["tokens"], count * buffers.token_bytes),
            device.memory(arguments["scratch"], buffers.scratch_bytes),
            arguments["task_index"], count, arguments["debug"] != 0)


def csim_backend(manifest: Manifest, artifact: Path, workdir: Path) -> CsimBackend:
    """Generate the artifact's HLS project into ``workdir/hls`` and load its kernel."""
    return CsimBackend(manifest, generate(artifact, workdir / "hls"))
