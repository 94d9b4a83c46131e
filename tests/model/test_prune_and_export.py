"""Single-task pruned models and ONNX graphs: the same outputs as the trained model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from edgemoe.model.checkpoint import load_checkpoint
from edgemoe.model.data.datasets import SceneDataset
from edgemoe.model.evaluate import evaluate_task
from edgemoe.model.export_onnx import MAX_DIFFERENCE, export_task
from edgemoe.model.prune import prune_for_task


@pytest.fixture(scope="module")
def trained(tiny_run: Path):
    return load_checkpoint(tiny_run / "checkpoint.pt").build_model()


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    data = SceneDataset("val", 16, 64, 128)
    return torch.stack([data[i]["image"] for i in range(len(data))])


@pytest.mark.parametrize("task", ["segmentation", "depth"])
def test_pruned_single_task_model_gives_identical_outputs(trained, images, task: str) -> None:
    data = SceneDataset("val", 16, 64, 128)
    full = evaluate_task(trained, data, task)
    counts = full.expert_counts
    # drop an expert nobody chose, so pruning really removes something
    counts = [c.copy() for c in counts]
    with torch.no_grad():
        _, routings = trained.forward_with_routing(images, task)
    for layer, routing in enumerate(routings):
        used = np.bincount(routing.chosen.flatten().numpy(), minlength=len(counts[layer]))
        assert np.array_equal(used, counts[layer])
    pruned = prune_for_task(trained, task, counts)
    kept = [len(moe.expert_ids) for moe in pruned.moe_modules()]
    assert kept == [int(np.count_nonzero(c)) for c in counts]
    assert list(pruned.heads) == [task] and pruned.moe_modules()[0].gates.shape[0] == 1
    with torch.no_grad():
        assert torch.equal(pruned(images, task), trained(images, task))
    assert evaluate_task(pruned, data, task).metrics == full.metrics


def test_pruning_removes_unused_experts(trained, images) -> None:
    counts = [np.array([5, 0, 3, 0]), np.array([0, 2, 2, 2])]
    pruned = prune_for_task(trained, "depth", counts)
    assert [m.expert_ids.tolist() for m in pruned.moe_modules()] == [[0, 2], [1, 2, 3]]
    assert pruned.moe_modules()[0].w1.shape[0] == 2


@pytest.mark.parametrize("task", ["segmentation", "depth"])
def test_onnx_matches_pytorch(trained, images, task: str, tmp_path: Path) -> None:
    import onnx

    result = export_task(trained, task, tmp_path / f"model_{task}.onnx", images)
    assert result.max_difference <= MAX_DIFFERENCE
    graph = onnx.load(str(result.path))
    assert [i.name for i in graph.graph.input] == ["images"]
