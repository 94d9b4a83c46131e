"""The whole accelerator, bit for bit: the encoder as the hardware runs it.

``simulate`` takes an image (uint8, H x W x 3) and a task, and returns the final tokens
(raw integers and their format); with ``trace`` it also returns every layer's
intermediate values under their quantization-spec names and each MoE layer's expert
queues. ``simulate_batch`` does the same for several images at once. The task heads are
not part of it: they run in float on the dequantized tokens.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from threadpoolctl import threadpool_limits

from .config import AcceleratorConfig, ModelConfig
from .fixed_array import FixedArray
from .kernels import (
    ExpertWeights,
    attention_output,
    attention_scores,
    layer_norm,
    linear,
    moe,
    patch_embed,
    route_tokens,
    single_pass_softmax,
)
from .manifest import Manifest
from .network import block_prefix, check_image, final_norm_weights
from .quant import QuantSpec


@dataclass
class SimResult:
    tokens: FixedArray  # (tokens, dim) after the final LayerNorm (or the last block)
    trace: dict[str, FixedArray] = field(default_factory=dict)
    #: per MoE layer, per expert, the token indices it processed
    queues: dict[int, list[np.ndarray]] = field(default_factory=dict)


class Accelerator:
    """One configured accelerator with its weights loaded."""

    @classmethod
    def from_manifest(cls, manifest: Manifest, weights: dict[str, FixedArray],
                      workers: int | None = None) -> Accelerator:
        """The accelerator an artifact's manifest describes, with ``weights`` loaded."""
        return cls(manifest.config, manifest.accelerator, manifest.spec, weights, workers)

    def __init__(self, config: ModelConfig, accelerator: AcceleratorConfig, spec: QuantSpec,
                 weights: dict[str, FixedArray], workers: int | None = None) -> None:
        self.config, self.accelerator, self.spec = config, accelerator, spec
        if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int)
                                    or workers < 1):
            raise ValueError(f"workers must be a whole number >= 1, got {workers!r}")
        #: threads ``run_batch`` shares images among (default: one per core it may use)
        self.workers = workers or (len(os.sched_getaffinity(0))
                                   if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)
        self._pool: ThreadPoolExecutor | None = None  # made on the first shared batch
        # Weights are read-only from here on, so their float slices can be kept.
        self.weights = {name: FixedArray._trusted(value.raw, value.fmt).frozen()
                        for name, value in weights.items()}
        self.experts: dict[int, ExpertWeights] = {}
        self.gates: dict[int, list[FixedArray]] = {}
        for layer in config.moe_layers:
            p = block_prefix(layer)
            w = self.weights
            self.experts[layer] = ExpertWeights.from_stacked(
                w[p + "moe.fc1.weight"], w[p + "moe.fc1.bias"], w[p + "moe.fc2.weight"],
                w[p + "moe.fc2.bias"])
            gates = w[p + "moe.gate.weight"]
            self.gates[layer] = [FixedArray._trusted(gates.raw[t], gates.fmt).frozen()
                                 for t in range(len(config.tasks))]

    def _linear(self, x: FixedArray, name: str, out: str, **kwargs) -> FixedArray:
        w = self.weights
        return linear(x, w[f"{name}.weight"], w[f"{name}.bias"], self.spec.fmt(out), **kwargs)

    def run(self, image: np.ndarray, task: str, trace: bool = False) -> SimResult:
        """One image through the encoder."""
        return self.run_batch([image], task, trace)[0]

    def run_batch(self, images: Sequence[np.ndarray], task: str,
                  trace: bool = False) -> list[SimResult]:
        """Several images, each bit for bit as alone, on every core: the images are shared
        out among ``workers`` threads, each share stacked (numpy leaves the interpreter
        lock while it computes on large arrays, and each thread keeps its own scratch
        arrays), BLAS one thread each meanwhile. The weights are prepared once, for all."""
        config = self.config
        config.task_index(task)
        if len(images) == 0:
            raise ValueError("run_batch needs at least one image")
        for image in images:
            check_image(image, config)
        workers = min(self.workers, len(images))
        if workers == 1:
            return self._run_stacked(images, task, trace)
        shares = np.array_split(np.arange(len(images)), workers)
        if self._pool is None:  # kept: its threads keep their scratch arrays between batches
            self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="edgemoe-sim")
        with threadpool_limits(1, user_api="blas"):  # process-wide while the batch runs
            done = self._pool.map(lambda share: self._run_stacked(
                [images[i] for i in share], task, trace), shares)
            return [result for share in done for result in share]

    def _run_stacked(self, images: Sequence[np.ndarray], task: str,
                     trace: bool) -> list[SimResult]:
        """Images through the encoder together: every kernel works on rows or on one
        image's attention, so stacking images only makes the products larger."""
        config, spec, w = self.config, self.spec, self.weights
        task_index = config.task_index(task)
        count, tokens = len(images), config.tokens
        results = [SimResult(tokens=None) for _ in images]  # type: ignore[arg-type]

        def keep(name: str, value: FixedArray, per_image: bool = False) -> FixedArray:
            """Trace ``value``: every image's rows one after another, or (``per_image``)
            one entry per image."""
            if trace:
                stacked = value if per_image else value.reshape(count, -1, *value.shape[1:])
                for index, result in enumerate(results):
                    result.trace[name] = stacked[index]
            return value

        def per_image(x: FixedArray) -> FixedArray:
            return x.reshape(count, tokens, x.shape[-1])

        pixels = FixedArray(np.ascontiguousarray(np.stack(images).transpose(0, 3, 1, 2)),
                            spec.fmt("pixels"))
        embedded = patch_embed(pixels, w["patch_embed.weight"], w["patch_embed.bias"],
                               w["embed.position"], config.patch, spec.fmt("embed"))
        x = keep("embed", embedded.reshape(count * tokens, config.dim))
        for layer in range(config.layers):
            p = block_prefix(layer)
            n1 = keep(p + "norm1", layer_norm(x, w[p + "norm1.weight"], w[p + "norm1.bias"],
                                              spec.layer_norm(p + "norm1")))
            q = keep(p + "q", self._linear(n1, p + "attn.q", p + "q"))
            k = keep(p + "k", self._linear(n1, p + "attn.k", p + "k"))
            v = keep(p + "v", self._linear(n1, p + "attn.v", p + "v"))
            scores = keep(p + "scores", attention_scores(per_image(q), per_image(k),
                                                         config.heads, spec.fmt(p + "scores")),
                          per_image=True)
            softmax = spec.softmax(p + "softmax")
            peak, inv_sum = single_pass_softmax(scores, self.accelerator.attention_parallel,
                                                softmax)
            attended = attention_output(scores, peak, inv_sum, per_image(v), softmax,
                                        spec.fmt(p + "attn"))
            attended = keep(p + "attn", attended.reshape(count * tokens, config.dim))
            x = keep(p + "residual1", self._linear(attended, p + "attn.proj", p + "residual1",
                                                   residual=x))
            n2 = keep(p + "norm2", layer_norm(x, w[p + "norm2.weight"], w[p + "norm2.bias"],
                                              spec.layer_norm(p + "norm2")))
            if layer in config.moe_layers:
                probs, chosen = route_tokens(
                    n2, self.gates[layer][task_index], spec.fmt(p + "gate_logits"),
                    spec.softmax(p + "gate"), config.top_k,
                    renormalize=config.renormalizes_top_k)
                keep(p + "gate_probs", probs)
                x, queues = moe(n2, x, probs, chosen, self.experts[layer], spec.gelu(p),
                                spec.fmt(p + "expert_out"), spec.fmt(p + "out"))
                for index, result in enumerate(results):
                    result.queues[layer] = _image_queues(queues, index, tokens)
            else:
                hidden = keep(p + "hidden", self._linear(n2, p + "mlp.fc1", p + "hidden",
                                                         gelu=spec.gelu(p)))
                x = self._linear(hidden, p + "mlp.fc2", p + "out", residual=x)
            keep(p + "out", x)
        if config.has_final_norm:
            gamma, beta = final_norm_weights(w, config, task_index)
            x = keep("norm", layer_norm(x, gamma, beta, spec.layer_norm("norm")))
        for index, result in enumerate(results):
            result.tokens = x[index * tokens:(index + 1) * tokens]
        return results


def _image_queues(queues: list[np.ndarray], index: int, tokens: int) -> list[np.ndarray]:
    """One image's share of each expert's queue, as that image's token indices (queues
    are in token order, so each image's tokens are one run of it)."""
    bounds = [np.searchsorted(queue, [index * tokens, (index + 1) * tokens])
              for queue in queues]
    return [queue[lo:hi] - index * tokens for queue, (lo, hi) in zip(queues, bounds, strict=True)]


def simulate(manifest: Manifest, weights: dict[str, FixedArray], image: np.ndarray, task: str,
             trace: bool = False) -> SimResult:
    """One image through the accelerator an artifact's manifest describes."""
    return Accelerator.from_manifest(manifest, weights).run(image, task, trace)


def simulate_batch(manifest: Manifest, weights: dict[str, FixedArray],
                   images: Sequence[np.ndarray], task: str,
                   trace: bool = False) -> list[SimResult]:
    """Several images through it at once: the weights are prepared once and the products
    are larger, each image's result bit for bit its ``simulate``'s."""
    return Accelerator.from_manifest(manifest, weights).run_batch(images, task, trace)
