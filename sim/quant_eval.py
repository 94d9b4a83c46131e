"""Float versus fixed point: per-task metrics, per-layer signal-to-quantization noise, and
the error of the tokens after the last block.

Both paths end in the same float task heads (as on the board), so the difference in the
metrics is the accelerator's quantization alone. The token error leaves out the tokens
whose routing changed in some MoE layer (another expert, a different vector altogether)
and counts them: their error measures the flip, not the arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tqdm import tqdm

from .accelerator import Accelerator, SimResult
from .config import AcceleratorConfig, ModelConfig
from .heads import HeadLayer, run_head, token_grid
from .network import block_prefix, float_forward, top_k_float
from .quant import QuantSpec, quantize_weights
from .tasks import TASKS


@dataclass
class NoiseMeter:
    """Signal and error energy per tensor name, for SQNR in dB."""

    signal: dict[str, float] = field(default_factory=dict)
    noise: dict[str, float] = field(default_factory=dict)

    def update(self, name: str, exact: np.ndarray, approximate: np.ndarray) -> None:
        self.signal[name] = self.signal.get(name, 0.0) + float(np.sum(exact**2))
        self.noise[name] = self.noise.get(name, 0.0) + float(np.sum((approximate - exact)**2))

    def sqnr_db(self) -> dict[str, float]:
        return {name: 10 * np.log10(self.signal[name] / max(self.noise[name], 1e-300))
                for name in self.signal}


@dataclass
class TokenErrorMeter:
    """Tokens after the last block, fixed point against float64, over the tokens routed
    alike in every MoE layer."""

    signal: float = 0.0
    noise: float = 0.0
    tokens: int = 0
    rerouted: int = 0

    def update(self, config: ModelConfig, exact: dict[str, np.ndarray], fixed: SimResult,
               ) -> None:
        """``exact``: the float forward's taps; ``fixed``: the simulator's run, traced."""
        alike = np.ones(config.tokens, dtype=bool)
        for layer in config.moe_layers:
            ours = np.zeros((config.tokens, config.experts), dtype=bool)
            for expert, queue in enumerate(fixed.queues[layer]):
                ours[queue, expert] = True
            theirs = np.zeros_like(ours)
            chosen = top_k_float(exact[block_prefix(layer) + "gate_probs"], config.top_k)
            np.put_along_axis(theirs, chosen, True, axis=1)
            alike &= (ours == theirs).all(axis=1)
        last = block_prefix(config.layers - 1) + "out"
        got = fixed.trace[last].to_float()
        reference, error = exact[last][alike], got[alike] - exact[last][alike]
        self.signal += float(np.sum(reference**2))
        self.noise += float(np.sum(error**2))
        self.tokens += config.tokens
        self.rerouted += int(np.count_nonzero(~alike))

    def summary(self) -> dict[str, float | int]:
        return {"relative_rmse": float(np.sqrt(self.noise / max(self.signal, 1e-300))),
                "tokens": self.tokens, "rerouted": self.rerouted}


def predict(layers: tuple[HeadLayer, ...], arrays: dict[str, np.ndarray], tokens: np.ndarray,
            config: ModelConfig, task: str) -> np.ndarray:
    """A task's prediction from the backbone's tokens, through its head on the ARM side."""
    return TASKS[task].predict(run_head(layers, arrays, token_grid(tokens, *config.grid)))


def compare_float_fixed(config: ModelConfig, accelerator: AcceleratorConfig,
                        weights: dict[str, np.ndarray], spec: QuantSpec,
                        heads: tuple[dict[str, tuple[HeadLayer, ...]], dict[str, np.ndarray]],
                        images: np.ndarray, truths: dict[str, np.ndarray],
                        progress: bool = True) -> dict[str, Any]:
    """Run ``images`` through both paths for every task; metrics per path (against
    ``truths``, each task's ground truth per image), SQNR per layer, the tokens' error."""
    engine = Accelerator(config, accelerator, spec, quantize_weights(weights, spec, config))
    noise, token_error = NoiseMeter(), TokenErrorMeter()
    meters: dict[str, dict[str, Any]] = {
        task: {path: TASKS[task].meter(config.classes) for path in ("float", "fixed")}
        for task in config.tasks}
    layers, arrays = heads
    for index in tqdm(range(len(images)), desc=f"float vs {spec.preset}", unit="img",
                      disable=not progress, leave=False):
        for task in config.tasks:
            taps: dict[str, np.ndarray] = {}
            exact = float_forward(weights, config, images[index], task, tap=taps.__setitem__)
            fixed = engine.run(images[index], task, trace=True)
            for name, value in fixed.trace.items():
                if name in taps and taps[name].shape == value.shape:
                    noise.update(name, taps[name], value.to_float())
            token_error.update(config, taps, fixed)
            truth = truths[task][index]
            meters[task]["float"].update(predict(layers[task], arrays, exact, config, task),
                                         truth)
            meters[task]["fixed"].update(predict(layers[task], arrays,
                                                 fixed.tokens.to_float(), config, task), truth)
    return {"preset": spec.preset, "images": len(images),
            "metrics": {task: {path: meter.summary() for path, meter in by_path.items()}
                        for task, by_path in meters.items()},
            "sqnr_db": noise.sqnr_db(), "tokens": token_error.summary()}
