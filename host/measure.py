"""Latency, throughput and power of the kernel on a board (or the emulator).

Per-image latency is measured twice: the kernel alone (ap_start to ap_done) and end to
end (copy the image in, run, invalidate, decode, run the task head on the ARM cores).
Runs alternate between tasks so the cost of a task switch is measured too. Throughput
runs full batches. Power comes from PYNQ's PMBus rails when the board has them, recorded
with pynq's ``DataRecorder`` while batches run; energy per image follows.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from edgemoe.sim.atomic import atomic_path

from .driver import Accelerator

POWER_INTERVAL = 0.01  # seconds between PMBus readings
MIN_POWER_SECONDS = 1.0  # batches repeat until power was sampled this long


@dataclass(frozen=True)
class Latency:
    median_ms: float
    p90_ms: float
    min_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        ms = np.asarray(seconds) * 1e3
        return cls(float(np.median(ms)), float(np.percentile(ms, 90)), float(ms.min()))


@dataclass(frozen=True)
class Measurement:
    device: str
    tasks: list[str]
    runs: int
    kernel: Latency  # per image, ap_start to ap_done
    end_to_end: Latency  # per image, image in to label/depth map out
    same_task_kernel_ms: float | None  # median kernel time when the previous task was the same
    switched_task_kernel_ms: float | None  # ... and when the task changed
    weight_loads: int  # copies of the weight pack into DDR, 1 when task switches are free
    batch_images: int
    throughput: float  # images per second over full batches
    power_w: float | None  # mean board power over the batches, from PMBus
    energy_mj_per_image: float | None
    rails: list[str]

    def rows(self) -> list[tuple[str, str]]:
        def latency(value: Latency) -> str:
            return (f"{value.median_ms:.3f} ms median, {value.p90_ms:.3f} p90, "
                    f"{value.min_ms:.3f} min")

        def milliseconds(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f} ms"

        power = ("no PMBus rails (not on a board)" if self.power_w is None else
                 f"{self.power_w:.3f} W over {len(self.rails)} rails")
        energy = "-" if self.energy_mj_per_image is None else f"{self.energy_mj_per_image:.3f} mJ"
        return [("device", self.device), ("tasks", ", ".join(self.tasks)),
                ("runs", str(self.runs)),
                ("kernel latency", latency(self.kernel)),
                ("end-to-end latency", latency(self.end_to_end)),
                ("kernel after same task", milliseconds(self.same_task_kernel_ms)),
                ("kernel after task switch", milliseconds(self.switched_task_kernel_ms)),
                ("weight pack loads", str(self.weight_loads)),
                (f"throughput (batch {self.batch_images})", f"{self.throughput:.2f} images/s"),
                ("board power", power), ("energy per image", energy)]

    def table(self) -> str:
        rows = self.rows()
        width = max(len(name) for name, _ in rows)
        return "\n".join(f"{name:<{width}}  {value}" for name, value in rows)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def write_json(self, path: str | Path) -> Path:
        with atomic_path(path) as partial:
            partial.write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        return Path(path)


def _median_ms(seconds: list[float]) -> float | None:
    return float(np.median(seconds) * 1e3) if seconds else None


def power_rails() -> dict[str, Any]:
    """PYNQ's PMBus rails that report power; empty off a board."""
    import pynq

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # libsensors complains loudly when there is none
        try:
            rails = pynq.get_rails()
        except (OSError, RuntimeError):
            return {}
    return {name: rail for name, rail in rails.items() if rail.power is not None}


def _mean_power(rails: dict[str, Any], work: Any) -> tuple[float, Any]:
    """Run ``work()`` while pynq's DataRecorder samples the rails; mean total watts."""
    from pynq import DataRecorder

    recorder = DataRecorder(*(rail.power for rail in rails.values()))
    with recorder.record(POWER_INTERVAL):
        outcome = work()
    frame = recorder.frame.drop(columns="Mark")
    if frame.empty:
        raise RuntimeError("the PMBus recorder took no sample; measure more batches")
    return float(frame.sum(axis=1).mean()), outcome


def measure(accelerator: Accelerator, images: np.ndarray, tasks: list[str], runs: int = 20,
            rails: dict[str, Any] | None = None, progress: bool = False) -> Measurement:
    """Measure ``runs`` single-image runs cycling through ``tasks`` in pairs, then full
    batches of ``accelerator.max_images``."""
    if not tasks:
        raise ValueError("measure needs at least one task")
    images = np.asarray(images)
    rails = power_rails() if rails is None else rails
    kernel, end_to_end, same, switched = [], [], [], []
    previous = None
    for run in tqdm(range(runs), desc="latency", unit="run", disable=not progress):
        task = tasks[run // 2 % len(tasks)]  # A A B B ...: half the runs follow a switch
        image = images[run % len(images)]
        started = time.perf_counter()
        result = accelerator.run(image, task)
        accelerator.predict(result)
        end_to_end.append(time.perf_counter() - started)
        kernel.append(result.kernel_seconds)
        if previous is not None:
            (same if previous == task else switched).append(result.kernel_seconds)
        previous = task

    batch = np.resize(images, (accelerator.max_images, *images.shape[1:]))

    def batches() -> tuple[int, float]:
        count, started = 0, time.perf_counter()
        while True:
            for task in tasks:
                accelerator.run(batch, task)
                count += len(batch)
            elapsed = time.perf_counter() - started
            if not rails or elapsed >= MIN_POWER_SECONDS:
                return count, elapsed

    if rails:
        power, (count, seconds) = _mean_power(rails, batches)
    else:
        power, (count, seconds) = None, batches()
    device = type(accelerator.overlay.device).__name__
    return Measurement(
        device=device, tasks=list(tasks), runs=runs, kernel=Latency.of(kernel),
        end_to_end=Latency.of(end_to_end),
        same_task_kernel_ms=_median_ms(same), switched_task_kernel_ms=_median_ms(switched),
        weight_loads=accelerator.weight_loads, batch_images=len(batch),
        throughput=count / seconds, power_w=power,
        energy_mj_per_image=None if power is None else power * seconds / count * 1e3,
        rails=sorted(rails))
