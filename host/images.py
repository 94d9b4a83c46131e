"""User images for the board: a folder of image files, or one ``.npy`` array."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgemoe.sim.config import ModelConfig

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".ppm")


def load_images(path: str | Path, config: ModelConfig) -> tuple[np.ndarray, list[str]]:
    """(n, H, W, 3) uint8 images of the config's size and their names. Images are not
    resized: a different size is an error naming the file, so what runs is what was given."""
    from PIL import Image  # matplotlib's dependency; on the PYNQ image too

    path = Path(path)
    shape = (config.image_height, config.image_width, 3)
    if path.is_file() and path.suffix == ".npy":
        array = np.load(path)
        if array.ndim == 3:
            array = array[None]
        if array.dtype != np.uint8 or array.shape[1:] != shape:
            raise ValueError(f"{path} holds {array.dtype} {array.shape}; config "
                             f"{config.name!r} needs uint8 (n, {', '.join(map(str, shape))})")
        return array, [f"{path.name}[{i}]" for i in range(len(array))]
    if not path.is_dir():
        raise ValueError(f"{path} is neither a folder of images nor a .npy file")
    files = sorted(f for f in path.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ValueError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {path}")
    images = []
    for file in files:
        with Image.open(file) as opened:
            image = np.asarray(opened.convert("RGB"))
        if image.shape != shape:
            raise ValueError(f"{file} is {image.shape[1]}x{image.shape[0]}; config "
                             f"{config.name!r} takes {shape[1]}x{shape[0]} images")
        images.append(image)
    return np.stack(images), [f.name for f in files]
