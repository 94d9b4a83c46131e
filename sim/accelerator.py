"""The whole accelerator, bit for bit: the encoder as the hardware runs it.

``simulate`` takes an image (uint8, H x W x 3) and a task, and returns the final tokens
(raw integers and their format); with ``trace`` it also returns every layer's
intermediate values under their quantization-spec names and each MoE layer's expert
queues. The task heads are not part of it: they run in float on the dequantized tokens.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

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
    def from_manifest(cls, manifest: Manifest, weights: dict[str, FixedArray]) -> Accelerator:
        """The accelerator an artifact's manifest describes, with ``weights`` loaded."""
        return cls(manifest.config, manifest.accelerator, manifest.spec, weights)

    def __init__(self, config: ModelConfig, accelerator: AcceleratorConfig, spec: QuantSpec,
                 weights: dict[str, FixedArray]) -> None:
        self.config, self.accelerator, self.spec = config, accelerator, spec
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
        config, spec, w = self.config, self.spec, self.weights
        task_index = config.task_index(task)
        check_image(image, config)
        result = SimResult(tokens=None)  # type: ignore[arg-type]

        def keep(name: str, value: FixedArray) -> FixedArray:
            if trace:
                result.trace[name] = value
            return value

        pixels = FixedArray(np.ascontiguousarray(image.transpose(2, 0, 1)), spec.fmt("pixels"))
        x = keep("embed", patch_embed(pixels, w["patch_embed.weight"], w["patch_embed.bias"],
                                      w["embed.position"], config.patch, spec.fmt("embed")))
        for layer in range(config.layers):
            p = block_prefix(layer)
            n1 = keep(p + "norm1", layer_norm(x, w[p + "norm1.weight"], w[p + "norm1.bias"],
                                              spec.layer_norm(p + "norm1")))
            q = keep(p + "q", self._linear(n1, p + "attn.q", p + "q"))
            k = keep(p + "k", self._linear(n1, p + "attn.k", p + "k"))
            v = keep(p + "v", self._linear(n1, p + "attn.v", p + "v"))
            scores = keep(p + "scores", attention_scores(q, k, config.heads,
                                                         spec.fmt(p + "scores")))
            softmax = spec.softmax(p + "softmax")
            peak, inv_sum = single_pass_softmax(scores, self.accelerator.attention_parallel,
                                                softmax)
            attended = keep(p + "attn", attention_output(scores, peak, inv_sum, v, softmax,
                                                         spec.fmt(p + "attn")))
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
                result.queues[layer] = queues
            else:
                hidden = keep(p + "hidden", self._linear(n2, p + "mlp.fc1", p + "hidden",
                                                         gelu=spec.gelu(p)))
                x = self._linear(hidden, p + "mlp.fc2", p + "out", residual=x)
            keep(p + "out", x)
        if not config.has_final_norm:
            result.tokens = x
        else:
            gamma, beta = final_norm_weights(w, config, task_index)
            result.tokens = keep("norm", layer_norm(x, gamma, beta, spec.layer_norm("norm")))
        return result


def simulate(manifest: Manifest, weights: dict[str, FixedArray], image: np.ndarray, task: str,
             trace: bool = False) -> SimResult:
    """One image through the accelerator an artifact's manifest describes."""
    return Accelerator.from_manifest(manifest, weights).run(image, task, trace)
