"""The synthetic scenes' extra ground truth (normals, edges, saliency, human parts) and
each task's loss."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgemoe.model.data.scenes import BUILDING, PERSON, ROAD, VEHICLE, render_scene
from edgemoe.model.data.targets import label_edges, saliency, surface_normals
from edgemoe.model.losses import task_loss
from edgemoe.sim.metrics import IGNORE_LABEL


@pytest.fixture(scope="module")
def scenes():
    return [render_scene(seed, 128, 256) for seed in range(6)]


def test_the_ground_faces_up_and_facades_face_the_street(scenes) -> None:
    for scene in scenes:
        normals = surface_normals(scene.depth, scene.horizon, scene.focal)
        known = np.abs(normals).sum(axis=0) > 0
        road = known & (scene.label == ROAD)
        assert np.allclose(normals[:, road].mean(axis=1), [0, -1, 0], atol=0.02)
        walls = known & (scene.label == BUILDING)
        if walls.sum() > 50:  # facades along the street: mostly sideways
            assert np.median(np.abs(normals[0, walls])) > 0.5
        assert not known[scene.depth == 0].any()  # the sky has no normal
        assert np.allclose(np.linalg.norm(normals[:, known], axis=0), 1, atol=1e-6)


def test_edges_saliency_and_parts_follow_the_labels(scenes) -> None:
    label = np.array([[0, 0, 4], [0, 5, 4]])
    assert label_edges(label).tolist() == [[0, 1, 1], [1, 1, 1]]
    assert saliency(label).tolist() == [[0, 0, 1], [0, 1, 1]]
    for scene in scenes:
        assert ((scene.parts > 0) <= (scene.label == PERSON)).all()
        assert saliency(scene.label).sum() == np.isin(scene.label, (VEHICLE, PERSON)).sum()
    people = sum((s.label == PERSON).sum() for s in scenes)
    parts = np.bincount(np.concatenate([s.parts.ravel() for s in scenes]), minlength=7)
    assert people > 0 and parts[1:].sum() == people and (parts[1:] > 0).all()


def test_each_loss_is_small_for_the_truth_and_large_against_it() -> None:
    torch.manual_seed(0)
    classes = torch.randint(0, 7, (2, 8, 8))
    classes[0, 0, 0] = IGNORE_LABEL
    binary = torch.randint(0, 2, (2, 8, 8))
    normals = torch.nn.functional.normalize(torch.randn(2, 3, 8, 8), dim=1)
    batch = {"label": classes, "parts": classes, "edges": binary, "saliency": binary,
             "normals": normals, "depth": torch.rand(2, 8, 8) * 10 + 1}
    logits = torch.nn.functional.one_hot(classes.clamp(max=6), 7).permute(0, 3, 1, 2) * 20.0
    sign = (binary * 2 - 1)[:, None].float() * 20
    right = {"segmentation": logits, "human_parts": logits, "edges": sign, "saliency": sign,
             "normals": normals * 3, "depth": batch["depth"][:, None]}
    wrong = {"segmentation": -logits, "human_parts": -logits, "edges": -sign,
             "saliency": -sign, "normals": -normals, "depth": batch["depth"][:, None] * 2}
    for task in right:
        good, bad = task_loss(task, right[task], batch), task_loss(task, wrong[task], batch)
        assert torch.isfinite(good) and good < 1e-3 < bad, task


def test_a_batch_without_people_adds_no_parts_loss() -> None:
    """PASCAL's pictures without a person have every part ignored (as M3ViT marks them):
    their loss is 0, not the 0 / 0 of a mean over no pixel."""
    nobody = {"parts": torch.full((2, 8, 8), IGNORE_LABEL)}
    loss = task_loss("human_parts", torch.randn(2, 7, 8, 8, requires_grad=True), nobody)
    assert loss.item() == 0.0
    loss.backward()
    mixed = {"parts": torch.cat([nobody["parts"][:1], torch.randint(0, 7, (1, 8, 8))])}
    logits = torch.randn(2, 7, 8, 8)
    expected = torch.nn.functional.cross_entropy(logits[1:], mixed["parts"][1:])
    assert torch.isclose(task_loss("human_parts", logits, mixed), expected)
