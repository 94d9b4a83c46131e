"""Multi-task data sets: our synthetic street scenes, and NYUD-v2-style folders.

Every item is a dict: ``image`` float32 (3, H, W) in [0, 1], ``label`` int64 (H, W) with
``IGNORE_LABEL`` where unlabelled, ``depth`` float32 (H, W) metres with 0 where unknown.
The synthetic scenes also give ``parts`` (int64 human parts), ``normals`` float32 (3, H, W)
unit vectors (0 where unknown), ``edges`` and ``saliency`` (int64 0/1).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from edgemoe.sim.atomic import atomic_path
from edgemoe.sim.cache import cache_dir
from edgemoe.sim.images import open_image
from edgemoe.sim.metrics import IGNORE_LABEL
from edgemoe.sim.tasks import TASKS

from . import scenes
from .targets import label_edges, saliency, surface_normals

SPLIT_OFFSETS = {"train": 0, "val": 5_000_000}
SEED_STRIDE = 10_000_000


def _generator_version() -> str:
    """Changes whenever the scene generator's code does, so caches never go stale."""
    return hashlib.sha256(Path(scenes.__file__).read_bytes()).hexdigest()[:12]


def _render(args: tuple[int, int, int]) -> scenes.Scene:
    return scenes.render_scene(*args)


def _generate(seeds: list[int], height: int, width: int, desc: str) -> dict[str, np.ndarray]:
    jobs = [(seed, height, width) for seed in seeds]
    workers = min(len(jobs) // 200 + 1, os.cpu_count() or 1)
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            rendered = list(tqdm(pool.imap(_render, jobs, chunksize=64), total=len(jobs),
                                 desc=desc, unit="img", leave=False))
    else:
        rendered = [_render(job) for job in tqdm(jobs, desc=desc, unit="img", leave=False)]
    return {"images": np.stack([s.image for s in rendered]),
            "labels": np.stack([s.label for s in rendered]),
            "depths": np.stack([s.depth for s in rendered]),
            "parts": np.stack([s.parts for s in rendered]),
            "cameras": np.array([(s.horizon, s.focal) for s in rendered], np.float64)}


def check_class_ids(label: np.ndarray, classes: int, where: object) -> np.ndarray:
    """``label``, or a one-line ValueError if it holds a class id the model does not have."""
    bad = (label >= classes) & (label != IGNORE_LABEL)
    if bad.any():
        raise ValueError(f"{where}: class id {int(label[bad][0])} is not below the model's "
                         f"{classes} classes (255 = unlabelled)")
    return label


class ArrayDataset(Dataset):
    """A whole split in memory: ``images`` uint8 (N, H, W, 3), ``labels`` (N, H, W) class ids,
    ``depths`` float32 (N, H, W) metres."""

    images: torch.Tensor
    labels: torch.Tensor | None  # None where the labels are read an item at a time
    depths: torch.Tensor

    def __len__(self) -> int:
        return len(self.images)

    #: the targets every item holds (``label`` and ``depth``; more in the synthetic scenes)
    targets: tuple[str, ...] = ("label", "depth")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return {"image": self.images[index].permute(2, 0, 1).float() / 255.0,
                "label": self.labels[index].long(),
                "depth": self.depths[index].float()}


class SceneDataset(ArrayDataset):
    """``count`` synthetic scenes of one split; the same seed and split give the same data.

    Train and validation scenes come from disjoint seed ranges. Generated arrays are
    cached (keyed by the generator's code) so a second run loads them in a moment.
    """

    def __init__(self, split: str, count: int, height: int, width: int, seed: int = 0,
                 use_cache: bool = True) -> None:
        if split not in SPLIT_OFFSETS:
            raise ValueError(f"unknown split {split!r}; expected one of {list(SPLIT_OFFSETS)}")
        first = seed * SEED_STRIDE + SPLIT_OFFSETS[split]
        seeds = list(range(first, first + count))
        name = f"scenes-{split}-{height}x{width}-{count}-{seed}-{_generator_version()}.npz"
        path = cache_dir() / "data" / name
        if use_cache and path.is_file():
            with np.load(path) as stored:
                arrays = {key: stored[key] for key in stored.files}
        else:
            arrays = _generate(seeds, height, width, desc=f"rendering {split} scenes")
            if use_cache:
                with atomic_path(path) as scratch, scratch.open("wb") as handle:
                    np.savez(handle, **arrays)
        self.images = torch.from_numpy(arrays["images"])  # uint8 (N, H, W, 3)
        self.labels = torch.from_numpy(arrays["labels"])
        self.depths = torch.from_numpy(arrays["depths"])
        self.parts = torch.from_numpy(arrays["parts"])
        self.cameras = arrays["cameras"]  # (N, 2): horizon row, focal length (pixels)

    targets = ("label", "depth", "parts", "normals", "edges", "saliency")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = super().__getitem__(index)
        label = self.labels[index].numpy()
        horizon, focal = self.cameras[index]
        item["parts"] = self.parts[index].long()
        item["normals"] = torch.from_numpy(surface_normals(self.depths[index].numpy(), horizon,
                                                           focal))
        item["edges"] = torch.from_numpy(label_edges(label)).long()
        item["saliency"] = torch.from_numpy(saliency(label)).long()
        return item


class FolderDataset(ArrayDataset):
    """NYUD-v2-style folders: ``images/NAME.png|jpg``, ``labels/NAME.png`` (class ids,
    255 = unlabelled) and ``depths/NAME.png`` (uint16 millimetres, 0 = unknown) or
    ``depths/NAME.npy`` (float metres), read whole and resized to the model's input size."""

    IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")

    def __init__(self, root: str | Path, height: int, width: int, classes: int) -> None:
        self.root, self.size, self.classes = Path(root), (width, height), classes
        images = self.root / "images"
        if not images.is_dir():
            raise FileNotFoundError(f"{self.root} has no images/ folder (expected images/, "
                                    "labels/ and depths/)")
        self.names = sorted(p.stem for p in images.iterdir()
                            if p.suffix.lower() in self.IMAGE_SUFFIXES)
        if not self.names:
            raise FileNotFoundError(f"no .png/.jpg images in {images}")
        missing = [n for n in self.names if self._label_path(n) is None
                   or self._depth_path(n) is None]
        if missing:
            raise FileNotFoundError(f"{len(missing)} images have no label or depth file, "
                                    f"for example {missing[0]!r} (looked in labels/, depths/)")
        items = [self._read(name) for name in tqdm(self.names, desc=f"reading {self.root}",
                                                    disable=len(self.names) < 100)]
        self.images, self.labels, self.depths = (torch.from_numpy(np.stack(column))
                                                 for column in zip(*items, strict=True))

    def _image_path(self, name: str) -> Path:
        return next(self.root / "images" / f"{name}{s}" for s in self.IMAGE_SUFFIXES
                    if (self.root / "images" / f"{name}{s}").is_file())

    def _label_path(self, name: str) -> Path | None:
        path = self.root / "labels" / f"{name}.png"
        return path if path.is_file() else None

    def _depth_path(self, name: str) -> Path | None:
        for suffix in (".png", ".npy"):
            path = self.root / "depths" / f"{name}{suffix}"
            if path.is_file():
                return path
        return None

    def _read(self, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from PIL import Image

        image = open_image(self._image_path(name)).convert("RGB").resize(self.size,
                                                                           Image.BILINEAR)
        label = np.asarray(open_image(self._label_path(name)).resize(self.size, Image.NEAREST))
        depth_path = self._depth_path(name)
        if depth_path.suffix == ".npy":
            depth = np.load(depth_path).astype(np.float32)
            depth = np.asarray(Image.fromarray(depth).resize(self.size, Image.NEAREST))
        else:
            millimetres = open_image(depth_path).resize(self.size, Image.NEAREST)
            depth = np.asarray(millimetres, dtype=np.float32) / 1000.0
        label = check_class_ids(label.astype(np.int64), self.classes, self._label_path(name))
        return np.asarray(image, np.uint8), label, depth.astype(np.float32)


def task_truths(dataset: ArrayDataset, tasks: tuple[str, ...], count: int,
                ) -> dict[str, np.ndarray]:
    """The ground truth of each task for the first ``count`` items, stacked."""
    items = [dataset[index] for index in range(min(count, len(dataset)))]
    return {task: np.stack([item[TASKS[task].target].numpy() for item in items])
            for task in tasks}

