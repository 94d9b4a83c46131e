"""User images: folders of image files and .npy arrays, with sizes checked, never resized."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from edgemoe.sim.config_file import load_model_config
from edgemoe.sim.images import load_images


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


def test_a_16_bit_image_is_scaled_to_8_bits_not_clipped(config, tmp_path: Path) -> None:
    values = np.array([0, 0x00FF, 0x8000, 0xFFFF], np.uint16)
    picture = np.resize(values, (64, 128)).astype(np.uint16)
    Image.fromarray(picture).save(tmp_path / "deep.png")
    images, _ = load_images(tmp_path, config)
    assert images[0, 0, :4].tolist() == [[0, 0, 0], [0, 0, 0], [128] * 3, [255] * 3]


def _png_claiming(width: int, height: int) -> bytes:
    """A real 1x1 PNG whose header claims another size (what a decompression bomb does)."""
    import io
    import struct
    import zlib

    buffer = io.BytesIO()
    Image.new("RGB", (1, 1)).save(buffer, format="PNG")
    data = bytearray(buffer.getvalue())
    header = struct.pack(">II", width, height) + bytes(data[24:29])
    data[16:29] = header
    data[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + header))
    return bytes(data)


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: (d / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really"),
     r"broken\.png cannot be read as an image"),
    (lambda d: (d / "folder.png").mkdir(), r"folder\.png is not a file"),
    (lambda d: (d / "bomb.png").write_bytes(_png_claiming(60000, 60000)),
     r"bomb\.png cannot be read as an image: .*decompression bomb"),
    (lambda d: (d / "big.png").write_bytes(_png_claiming(9000, 9000)),
     r"big\.png is 9000x9000; config 'tiny' takes 128x64"),  # refused before decoding
    (lambda d: (d / "cut.png").write_bytes(_cut_png()), r"cut\.png cannot be read"),
])
def test_hostile_files_are_one_line_errors(config, tmp_path: Path, make, message) -> None:
    make(tmp_path)
    with pytest.raises(ValueError, match=message):
        load_images(tmp_path, config)


def _cut_png() -> bytes:
    import io

    buffer = io.BytesIO()
    noise = np.random.default_rng(1).integers(0, 256, (64, 128, 3), dtype=np.uint8)
    Image.fromarray(noise).save(buffer, format="PNG")
    return buffer.getvalue()[:2000]


@pytest.mark.parametrize(("content", "message"), [
    (_png_claiming(60000, 60000), "decompression bomb"),
    (_png_claiming(12000, 12000), "decompression bomb"),  # Pillow only warns of these
    (b"\x89PNG\r\n\x1a\nnot really", "cannot be read as an image"),
])
def test_open_image_names_a_bomb_or_a_broken_file(tmp_path: Path, content: bytes,
                                                 message: str) -> None:
    from edgemoe.sim.images import open_image

    (tmp_path / "x.png").write_bytes(content)
    with pytest.raises(ValueError, match=rf"x\.png .*{message}"):
        open_image(tmp_path / "x.png")
