"""The board driver: the generated kernel under the real pynq API.

``Accelerator.load(artifact, bitstream)`` programs the overlay (``pynq.Overlay``), checks
the kernel's registers in the ``.hwh`` against the manifest, allocates DDR buffers with
``pynq.allocate`` and copies the weight pack once. ``run(images, task)`` writes the
arguments (64-bit addresses as two words), sets ap_start, polls ap_done with a timeout,
invalidates and returns the tokens as raw integers and as floats. Changing the task
changes one register: the weights stay where they are.

The same code runs on a board and on ``host.emulator.EmulatedDevice``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pynq
from pynq import DefaultIP

from edgemoe.sim.artifact import Artifact
from edgemoe.sim.config import ConfigError
from edgemoe.sim.debug_taps import read_lanes
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.kernel_interface import KERNEL_VLNV, VENDOR
from edgemoe.sim.manifest import Manifest
from edgemoe.sim.quant_eval import predict

from .hwh import register_mismatches

DEFAULT_TIMEOUT = 30.0  # seconds
POLL_INTERVAL = 1e-4


class DriverError(RuntimeError):
    """The board, its bitstream or the arguments do not fit this artifact."""


class EdgeMoEKernel(DefaultIP):
    """Register-level access to the generated kernel; pynq binds it by VLNV."""

    bindto = [KERNEL_VLNV]  # noqa: RUF012 - pynq's registration attribute

    def check_registers(self, manifest: Manifest) -> None:
        """Refuse a bitstream whose register map is not the manifest's."""
        found = {name: reg["address_offset"] for name, reg in (self._registers or {}).items()}
        if not found:
            raise DriverError("the .hwh has no register map for the kernel; regenerate the "
                              "bitstream with the design's .hwh next to it")
        problems = register_mismatches(found, manifest)
        if problems:
            raise DriverError("the bitstream's registers do not match the manifest: "
                              + "; ".join(problems) + ". Use the bitstream built from this "
                              "artifact's HLS project")

    def write_arguments(self, manifest: Manifest, values: dict[str, int]) -> None:
        for argument in manifest.kernel.arguments:
            value = values[argument.name]
            for index, register in enumerate(argument.registers):  # low word first
                self.write(register.offset, (value >> (32 * index)) & 0xFFFF_FFFF)

    def start(self, manifest: Manifest) -> None:
        control = manifest.kernel.control
        self.write(control.ctrl.offset, control.bits.ap_start)

    def wait(self, manifest: Manifest, timeout: float) -> None:
        """Poll ap_done (cleared by the read that sees it) for up to ``timeout`` seconds."""
        control = manifest.kernel.control
        started = time.perf_counter()
        while True:
            if self.read(control.ctrl.offset) & control.bits.ap_done:
                return
            elapsed = time.perf_counter() - started
            if elapsed > timeout:
                raise TimeoutError(f"the kernel did not finish: no ap_done after {elapsed:.3f} s "
                                   f"(timeout {timeout:g} s)")
            time.sleep(POLL_INTERVAL)


@dataclass
class RunResult:
    task: str
    raw: np.ndarray  # (images, tokens, dim) raw integers
    tokens: np.ndarray  # the same as floats
    kernel_seconds: float  # ap_start to ap_done, all images of the call


class Accelerator:
    """One artifact's kernel on a (real or emulated) board."""

    def __init__(self, artifact: Artifact, overlay: pynq.Overlay, kernel: EdgeMoEKernel,
                 max_images: int = 8, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not (math.isfinite(timeout) and timeout > 0):
            raise ValueError(f"timeout must be a finite number of seconds above 0, got {timeout}")
        self.artifact, self.manifest = artifact, artifact.manifest
        self.overlay, self.kernel, self.timeout = overlay, kernel, timeout
        self.layout = self.manifest.buffers
        self.output_format = self.manifest.kernel.output_format
        self.max_images = max_images
        self.weights = pynq.allocate((self.manifest.weights.bytes,), np.uint8)
        self.images = pynq.allocate((max_images * self.layout.image_bytes,), np.uint8)
        self.tokens = pynq.allocate((max_images * self.layout.token_bytes,), np.uint8)
        self.scratch = pynq.allocate((self.layout.scratch_bytes,), np.uint8)
        self.weight_loads = 0
        self.load_weights()
        self.head_layers, self.head_arrays = artifact.heads()

    @classmethod
    def load(cls, artifact: str | Path | Artifact, bitstream: str | Path, max_images: int = 8,
             timeout: float = DEFAULT_TIMEOUT) -> Accelerator:
        """Program ``bitstream`` and prepare ``artifact``'s kernel on the active device."""
        loaded = artifact if isinstance(artifact, Artifact) else Artifact(artifact)
        bitstream = Path(bitstream)
        if not bitstream.is_file():
            raise DriverError(f"no bitstream at {bitstream}")
        if not bitstream.with_suffix(".hwh").is_file():
            raise DriverError(f"no hardware handoff {bitstream.with_suffix('.hwh')} next to the "
                              "bitstream: pynq needs it to find the kernel's registers")
        vlnv = loaded.manifest.kernel.vlnv
        overlay = pynq.Overlay(str(bitstream))
        kernels = [name for name, ip in overlay.ip_dict.items()
                   if ip.get("type", "").split(":")[0] == VENDOR]
        matching = [n for n in kernels if overlay.ip_dict[n]["type"] == vlnv]
        if not matching:
            raise DriverError(f"the bitstream has no {vlnv}; it holds "
                              f"{sorted(ip.get('type') for ip in overlay.ip_dict.values())}")
        kernel = getattr(overlay, matching[0])
        if not isinstance(kernel, EdgeMoEKernel):
            raise DriverError(f"pynq bound {type(kernel).__name__} to {vlnv}, not the edgemoe "
                              "driver")
        kernel.check_registers(loaded.manifest)
        return cls(loaded, overlay, kernel, max_images, timeout)

    def load_weights(self) -> None:
        """Copy the weight pack (its size and SHA-256 checked) into its DDR buffer and flush
        it (done once at load)."""
        self.weights[:] = np.frombuffer(self.artifact.weight_bytes(), np.uint8)
        self.weights.flush()
        self.weight_loads += 1

    def _check_images(self, images: np.ndarray) -> np.ndarray:
        config = self.manifest.config
        shape = (config.image_height, config.image_width, 3)
        images = np.asarray(images)
        if images.ndim == 3:
            images = images[None]
        if images.dtype != np.uint8:
            raise ValueError(f"images must be uint8, got {images.dtype}")
        if images.shape[1:] != shape:
            raise ValueError(f"images must be (n, {', '.join(map(str, shape))}) for config "
                             f"{config.name!r}, got {images.shape}")
        if not 1 <= len(images) <= self.max_images:
            raise ValueError(f"1 to {self.max_images} images per run, got {len(images)}")
        return images

    def run(self, images: np.ndarray, task: str, debug: bool = False,
            reload_weights: bool = False) -> RunResult:
        """Images (n, H, W, 3) uint8 through the kernel for ``task``."""
        try:
            task_index = self.manifest.config.task_index(task)
        except ConfigError as err:
            raise ValueError(str(err)) from None
        images = self._check_images(images)
        if reload_weights:
            self.load_weights()
        count = len(images)
        size = count * self.layout.image_bytes
        self.images[:size] = images.reshape(-1)
        self.images.flush()
        self.kernel.write_arguments(self.manifest, {
            "weights": self.weights.device_address,
            "weights_mirror": self.weights.device_address,
            "images": self.images.device_address,
            "tokens": self.tokens.device_address, "scratch": self.scratch.device_address,
            "task_index": task_index, "num_images": count, "debug": int(debug)})
        started = time.perf_counter()
        self.kernel.start(self.manifest)
        self.kernel.wait(self.manifest, self.timeout)
        seconds = time.perf_counter() - started
        self.tokens.invalidate()
        if debug:
            self.scratch.invalidate()
        raw = self._decode(count)
        floats = FixedArray(raw, self.output_format).to_float()
        return RunResult(task, raw, floats, seconds)

    def predict(self, result: RunResult) -> np.ndarray:
        """The task's head on the ARM cores, in numpy: (n, ...) predictions (class ids,
        metres, unit normals or probabilities: ``edgemoe.sim.tasks``)."""
        config = self.manifest.config
        return np.stack([predict(self.head_layers[result.task], self.head_arrays, tokens,
                                 config, result.task) for tokens in result.tokens])

    def _decode(self, count: int) -> np.ndarray:
        config, layout = self.manifest.config, self.layout
        tokens = np.asarray(self.tokens[:count * layout.token_bytes])
        values = [read_lanes(tokens, image * layout.token_bytes, layout.token_elements,
                             self.output_format, layout.feature_bits)
                  for image in range(count)]
        return np.stack(values).reshape(count, config.tokens, config.dim)
