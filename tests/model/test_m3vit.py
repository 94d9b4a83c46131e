"""M3ViT's MoE layer, routing, shapes and input checks."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch.nn import functional as F

from edgemoe.model.m3vit import M3ViT, MoE, top_k_experts
from edgemoe.sim.config import ConfigError
from edgemoe.sim.config_file import load_model_config

TINY = load_model_config("tiny")


def naive_moe(moe: MoE, x: torch.Tensor, task: int) -> torch.Tensor:
    """Token by token: gate, softmax, the k best experts (lower index on ties), weighted."""
    out = torch.zeros_like(x)
    for b in range(x.shape[0]):
        for t in range(x.shape[1]):
            token = x[b, t]
            probs = torch.softmax(moe.gates[task] @ token, dim=0).tolist()
            ranked = sorted(range(len(probs)), key=lambda e: (-probs[e], e))[:moe.top_k]
            for expert in ranked:
                hidden = F.gelu(token @ moe.w1[expert] + moe.b1[expert])
                out[b, t] += probs[expert] * (hidden @ moe.w2[expert] + moe.b2[expert])
    return out


@pytest.mark.parametrize("dense", [False, True], ids=["gather-scatter", "all-experts"])
@pytest.mark.parametrize("task", [0, 1])
def test_moe_equals_a_naive_per_token_loop(task: int, dense: bool) -> None:
    torch.manual_seed(task)
    moe = MoE(dim=16, hidden=24, experts=5, top_k=2, tasks=2)
    moe.dense_dispatch = dense
    x = torch.randn(3, 7, 16)
    with torch.no_grad():
        got, routing = moe(x, task)
        assert torch.allclose(got, naive_moe(moe, x, task), atol=1e-5)
    assert routing.chosen.shape == (3, 7, 2) and routing.probs.shape == (3, 7, 5)


def test_outputs_are_not_renormalized_over_the_top_k() -> None:
    """Each expert's output is weighted by its softmax probability over all experts."""
    torch.manual_seed(0)
    moe = MoE(dim=8, hidden=8, experts=4, top_k=2, tasks=1)
    with torch.no_grad():
        moe.w1.zero_(), moe.w2.zero_(), moe.b1.zero_()
        moe.b2.copy_(torch.ones(4, 8))  # every expert outputs ones
        x = torch.randn(1, 5, 8)
        got, routing = moe(x, 0)
    kept_mass = routing.probs.gather(-1, routing.chosen).sum(-1)
    assert torch.allclose(got[..., 0], kept_mass) and (kept_mass < 1).all()


def test_the_renormalized_gate_weighs_the_top_k_by_a_softmax_over_their_logits() -> None:
    torch.manual_seed(1)
    moe = MoE(dim=8, hidden=8, experts=5, top_k=2, tasks=1, renormalize=True)
    with torch.no_grad():
        moe.w1.zero_(), moe.w2.zero_(), moe.b1.zero_()
        moe.b2.copy_(torch.arange(5.0)[:, None].expand(5, 8))  # expert e outputs e
        x = torch.randn(1, 9, 8)
        got, routing = moe(x, 0)
        logits = (x @ moe.gates[0].t()).gather(-1, routing.chosen)
    expected = (logits.softmax(-1) * routing.chosen).sum(-1)
    assert torch.allclose(got[..., 0], expected, atol=1e-6)


def test_the_final_norm_is_shared_per_task_or_absent() -> None:
    torch.manual_seed(2)
    images = torch.rand(1, 3, 64, 128)
    shared = M3ViT(TINY).eval()
    per_task = M3ViT(dataclasses.replace(TINY, final_norm="per-task")).eval()
    absent = M3ViT(dataclasses.replace(TINY, final_norm="none")).eval()
    state = {k: v for k, v in shared.state_dict().items() if not k.startswith("norm.")}
    per_task.load_state_dict(state, strict=False)
    absent.load_state_dict(state)
    with torch.no_grad():
        per_task.norm.weight.copy_(torch.tensor([[1.0], [2.0]]).expand(2, TINY.dim))
        for scale, task in enumerate(TINY.tasks, start=1):
            last = absent.features(images, task)[0]
            normalized = F.layer_norm(last, (TINY.dim,), eps=TINY.layer_norm_eps)
            assert torch.allclose(per_task.features(images, task)[0], scale * normalized,
                                  atol=1e-5)
    assert per_task.norm.weight.shape == (2, TINY.dim)
    assert "norm.weight" not in absent.state_dict()


def test_top_k_ties_go_to_the_lower_expert_index() -> None:
    probs = torch.tensor([[0.1, 0.3, 0.3, 0.3], [0.25, 0.25, 0.25, 0.25], [0.4, 0.1, 0.4, 0.1]])
    assert top_k_experts(probs, 2).tolist() == [[1, 2], [0, 1], [0, 2]]


def test_equal_gate_scores_route_to_the_first_experts() -> None:
    moe = MoE(dim=4, hidden=4, experts=6, top_k=2, tasks=1)
    with torch.no_grad():
        moe.gates.zero_()
        _, routing = moe(torch.randn(2, 3, 4), 0)
    assert (routing.chosen == torch.tensor([0, 1])).all()


def test_forward_shapes_per_task() -> None:
    model = M3ViT(TINY).eval()
    images = torch.rand(2, 3, 64, 128)
    with torch.no_grad():
        logits = model(images, "segmentation")
        depth, routings = model.forward_with_routing(images, "depth")
    assert logits.shape == (2, 7, 64, 128) and depth.shape == (2, 1, 64, 128)
    assert (depth > 0).all() and len(routings) == len(TINY.moe_layers) == 2


@pytest.mark.parametrize("shape", [(2, 3, 64, 64), (2, 1, 64, 128), (3, 64, 128)])
def test_images_of_the_wrong_shape_are_refused(shape: tuple) -> None:
    with pytest.raises(ValueError, match=r"expected images of shape \(batch, 3, 64, 128\)"):
        M3ViT(TINY)(torch.rand(*shape), "segmentation")


def test_an_unknown_task_is_refused() -> None:
    with pytest.raises(ConfigError, match="unknown task 'normals'"):
        M3ViT(TINY)(torch.rand(1, 3, 64, 128), "normals")


def test_heads_need_a_power_of_two_patch() -> None:
    config = dataclasses.replace(TINY, patch=8, image_height=48, image_width=96)
    M3ViT(config)  # 8 is fine
    with pytest.raises(ValueError, match="power-of-two patch"):
        M3ViT(dataclasses.replace(TINY, patch=12, image_height=48, image_width=96))


def test_moe_macs_count_top_k_experts_against_all() -> None:
    from edgemoe.model.flops import path_macs

    macs = path_macs(TINY, "depth")
    per_expert = 2 * TINY.tokens * TINY.dim * TINY.expert_hidden
    gate = TINY.tokens * TINY.dim * TINY.experts
    assert macs.moe_active == 2 * (gate + TINY.top_k * per_expert)
    assert macs.dense_equivalent - macs.active == 2 * (TINY.experts - TINY.top_k) * per_expert


@pytest.mark.parametrize("kind", ["upsampling", "official"])
def test_head_macs_count_every_convolution_of_the_head(kind: str) -> None:
    """The formula against the head's own convolutions, counted as they run."""
    from edgemoe.model.flops import head_macs

    config = dataclasses.replace(TINY, task_head=kind)
    model = M3ViT(config).eval()
    counted = []

    def count(module: torch.nn.Module, _inputs: tuple, output: torch.Tensor) -> None:
        pixels = output.shape[-2] * output.shape[-1]
        if isinstance(module, torch.nn.ConvTranspose2d):  # stride 2, 2x2: one tap per pixel
            counted.append(pixels * module.in_channels * module.out_channels)
        elif isinstance(module, torch.nn.Conv2d):
            taps = module.kernel_size[0] * module.kernel_size[1]
            counted.append(pixels * module.in_channels * module.out_channels * taps)

    for module in model.heads["segmentation"].modules():
        module.register_forward_hook(count)
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 128), "segmentation")
    assert sum(counted) == head_macs(config, config.classes)
