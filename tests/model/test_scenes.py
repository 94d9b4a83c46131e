"""The synthetic scenes: deterministic, consistent between image, labels and depth."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from edgemoe.model.data.datasets import FolderDataset, SceneDataset
from edgemoe.model.data.scenes import CLASSES, MAX_DEPTH, ROAD, SKY, render_scene


def test_the_same_seed_draws_the_same_scene() -> None:
    a, b, c = render_scene(7, 64, 128), render_scene(7, 64, 128), render_scene(8, 64, 128)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.depth, b.depth)
    assert not np.array_equal(a.label, c.label)


def test_depth_follows_the_layout() -> None:
    """Sky has no depth, everything else has one in range, and the road recedes upward."""
    for seed in range(20):
        scene = render_scene(seed, 64, 128)
        assert (scene.depth[scene.label == SKY] == 0).all()
        known = scene.depth[scene.label != SKY]
        assert (known > 0).all() and (known <= MAX_DEPTH).all()
        road_rows = [scene.depth[r][scene.label[r] == ROAD].mean() for r in range(64)
                     if (scene.label[r] == ROAD).sum() > 4]
        assert len(road_rows) > 5 and np.all(np.diff(road_rows) < 0.5)


def test_every_class_appears_across_a_few_scenes() -> None:
    labels = np.stack([render_scene(seed, 64, 128).label for seed in range(40)])
    assert set(np.unique(labels)) == set(range(len(CLASSES)))


def test_splits_are_fixed_and_disjoint() -> None:
    train = SceneDataset("train", 4, 64, 128, use_cache=False)
    again = SceneDataset("train", 4, 64, 128, use_cache=False)
    val = SceneDataset("val", 4, 64, 128, use_cache=False)
    assert torch.equal(train.images, again.images)
    assert not any(torch.equal(t, v) for t in train.images for v in val.images)
    item = train[0]
    assert item["image"].shape == (3, 64, 128) and item["image"].dtype == torch.float32
    assert item["label"].dtype == torch.int64 and item["depth"].shape == (64, 128)
    with pytest.raises(ValueError, match="unknown split 'test'"):
        SceneDataset("test", 1, 64, 128)


def test_nyud_style_folders_load_and_resize(tmp_path) -> None:
    from PIL import Image

    for folder in ("images", "labels", "depths"):
        (tmp_path / folder).mkdir()
    Image.fromarray(np.full((120, 160, 3), 200, np.uint8)).save(tmp_path / "images" / "a.png")
    Image.fromarray(np.full((120, 160), 3, np.uint8)).save(tmp_path / "labels" / "a.png")
    Image.fromarray(np.full((120, 160), 2500, np.uint16)).save(tmp_path / "depths" / "a.png")
    item = FolderDataset(tmp_path, 64, 128, classes=7)[0]
    assert item["image"].shape == (3, 64, 128)
    assert (item["label"] == 3).all() and torch.allclose(item["depth"], torch.tensor(2.5))
    (tmp_path / "images" / "b.png").write_bytes((tmp_path / "images" / "a.png").read_bytes())
    with pytest.raises(FileNotFoundError, match="no label or depth file, for example 'b'"):
        FolderDataset(tmp_path, 64, 128, classes=7)
