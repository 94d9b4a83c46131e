"""User images: a folder of image files, or one ``.npy`` array (what runs on the board, and
what calibrates an export without labelled data).

Every file is hostile until read: its size is checked from the header before any pixel is
decoded (so a decompression bomb is refused, not unpacked), a file that is not an image or
is cut short is named, and 16-bit images are scaled to 8 bits (the top byte), never
clipped.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from edgemoe.sim.config import ModelConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")
#: Pillow's modes of one 16-bit channel; they are scaled to 8 bits by their top byte.
SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def load_images(path: str | Path, config: ModelConfig) -> tuple[np.ndarray, list[str]]:
    """(n, H, W, 3) uint8 images of the config's size and their names. Images are not
    resized: a different size is an error naming the file, so what runs is what was given."""
    path = Path(path)
    shape = (config.image_height, config.image_width, 3)
    if path.is_file() and path.suffix == ".npy":
        array = _load_array(path, shape, config)
        return array, [f"{path.name}[{i}]" for i in range(len(array))]
    if not path.is_dir():
        raise ValueError(f"{path} is neither a folder of images nor a .npy file")
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    images = [_read_image(file, shape, config) for file in files]
    return np.stack(images), [f.name for f in files]


def _load_array(path: Path, shape: tuple[int, ...], config: ModelConfig) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)  # the header, not the data
    except (ValueError, OSError, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npy array: {err}") from None
    if array.ndim == 3:
        array = array[None]
    if array.ndim == 4 and len(array) == 0:
        raise ValueError(f"{path} holds no images")
    if array.dtype != np.uint8 or array.shape[1:] != shape:
        raise ValueError(f"{path} holds {array.dtype} {array.shape}; config "
                         f"{config.name!r} needs uint8 (n, {', '.join(map(str, shape))})")
    return np.array(array)


def _read_image(file: Path, shape: tuple[int, ...], config: ModelConfig) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError  # matplotlib's dependency; on the PYNQ image

    if not file.is_file():
        raise ValueError(f"{file} is not a file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(file) as opened:
                if opened.size != (shape[1], shape[0]):
                    raise ValueError(f"{file} is {opened.size[0]}x{opened.size[1]}; config "
                                     f"{config.name!r} takes {shape[1]}x{shape[0]} images")
                opened.load()
                return _rgb8(opened, file)
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, SyntaxError) as err:
        raise ValueError(f"{file} cannot be read as an image: {err}") from None


def open_image(file: Path):
    """The image in ``file``, decoded, or a one-line ValueError naming the file: also for a
    decompression bomb (Pillow's warning made an error)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(file)
            image.load()  # Pillow closes a file it opened by name once decoded
            return image
    except (UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, OSError, SyntaxError) as err:
        raise ValueError(f"{file} cannot be read as an image: {err}") from None


def _rgb8(image, file: Path) -> np.ndarray:
    """8-bit RGB: 16-bit channels by their top byte, everything else as Pillow converts."""
    if image.mode in SIXTEEN_BIT_MODES or image.mode == "I":
        values = np.asarray(image).astype(np.int64)
        if values.min(initial=0) < 0 or values.max(initial=0) > 0xFFFF:
            raise ValueError(f"{file} holds {image.mode} values outside 16 bits")
        gray = (values >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if image.mode == "F":
        raise ValueError(f"{file} is a floating-point image; give 8- or 16-bit pixels")
    return np.asarray(image.convert("RGB"))
