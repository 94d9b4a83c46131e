"""User images: folders of image files and .npy arrays, with sizes checked, never resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgemoe.host.images import load_images
from edgemoe.sim.config_file import load_model_config


@pytest.fixture(scope="module")
def config():
    return load_model_config("tiny")


def test_a_folder_of_images_loads_in_name_order(config, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pictures = rng.integers(0, 256, (2, 64, 128, 3), dtype=np.uint8)
    for name, picture in zip(["b.png", "a.png"], pictures, strict=True):
        Image.fromarray(picture).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an image")
    images, names = load_images(tmp_path, config)
    assert names == ["a.png", "b.png"]
    np.testing.assert_array_equal(images, pictures[::-1])


def test_an_npy_array_loads(config, tmp_path: Path) -> None:
    array = np.zeros((3, 64, 128, 3), np.uint8)
    np.save(tmp_path / "batch.npy", array)
    images, names = load_images(tmp_path / "batch.npy", config)
    assert images.shape == array.shape and names[2] == "batch.npy[2]"


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: Image.new("RGB", (100, 64)).save(d / "small.png"),
     r"small\.png is 100x64; config 'tiny' takes 128x64 images"),
    (lambda d: np.save(d / "x.npy", np.zeros((1, 64, 128, 3), np.float32)),
     r"x\.npy holds float32 \(1, 64, 128, 3\)"),
    (lambda d: None, "no images"),
])
def test_bad_images_are_named(config, tmp_path: Path, make, message) -> None:
    make(tmp_path)
    target = tmp_path / "x.npy" if (tmp_path / "x.npy").exists() else tmp_path
    with pytest.raises(ValueError, match=message):
        load_images(target, config)
