"""NYUD-v2 and PASCAL-Context as M3ViT's data loaders find them on disk.

NYUD_MT: ``images/ID.jpg``, ``segmentation/ID.png`` (0 = void, class c stored as c + 1),
``depth/ID.npy`` (metres, 0 = unknown), ``normals/ID.npy`` (H x W x 3, zero length =
unknown), ``edge/ID.npy`` (0/1), the splits in ``gt_sets/train.txt`` and ``val.txt``.

PASCAL_MT: ``JPEGImages/ID.jpg``, the splits in ``ImageSets/Context/train.txt`` and
``val.txt``, ``semseg/VOC12/ID.png`` where there is one, else ``semseg/pascal-context/``
(255 = void), ``sal_distill/ID.png`` (salient above 127), ``normals_distill/ID.png``, and
the MATLAB files of human parts and edges (``human_parts/``, ``pascal-context/trainval/``;
read by ``pascal_mat`` as M3ViT reads them).

Images are read whole (the calibration takes them as an array: about 0.8 MB an image at
512 x 512); the targets are read and resized (nearest; normals renormalized) when an item
is asked for. Split lists are untrusted: a name is a plain file name, and class ids are
checked against the config's classes.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from edgemoe.sim.images import open_image
from edgemoe.sim.metrics import IGNORE_LABEL, KNOWN_NORMAL
from edgemoe.sim.tasks import TASKS

from . import pascal_mat
from .datasets import ArrayDataset, check_class_ids

#: A split list's entry: a file name, no folders.
PLAIN_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
#: The targets each layout's reader takes.
READABLE = {"nyud": ("label", "depth", "normals", "edges"),
            "pascal": ("label", "saliency", "parts", "edges", "normals")}


def layout_of(root: Path) -> str | None:
    """``nyud`` or ``pascal`` for M3ViT's folder layouts, else None."""
    if (root / "gt_sets").is_dir():
        return "nyud"
    if (root / "ImageSets" / "Context").is_dir():
        return "pascal"
    return None


def _resized(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-neighbour resize of (H, W, ...) to (height, width)."""
    height, width = size
    rows = (np.arange(height) * array.shape[0] // height)
    cols = (np.arange(width) * array.shape[1] // width)
    return array[rows][:, cols]


class M3ViTFolders(ArrayDataset):
    def __init__(self, root: str | Path, split: str, height: int, width: int,
                 tasks: tuple[str, ...], classes: int) -> None:
        from PIL import Image

        self.root, self.size, self.classes = Path(root), (height, width), classes
        self.labels = None  # read an item at a time
        self._last_label_map: tuple[str | None, np.ndarray | None] = (None, None)
        self.layout = layout_of(self.root)
        if self.layout is None:
            raise FileNotFoundError(f"{self.root} is in neither of M3ViT's layouts (gt_sets/ "
                                    "for NYUD-v2, ImageSets/Context/ for PASCAL-Context)")
        readable = READABLE[self.layout]
        unreadable = [t for t in tasks if TASKS[t].target not in readable]
        if unreadable:
            raise FileNotFoundError(f"{self.root}: tasks {unreadable} have no ground truth "
                                    f"this {self.layout} reader takes (it reads "
                                    f"{', '.join(readable)})")
        self.targets = tuple(TASKS[t].target for t in tasks)
        splits = self.root / ("gt_sets" if self.layout == "nyud" else "ImageSets/Context")
        listing = splits / f"{split}.txt"
        if not listing.is_file():
            raise FileNotFoundError(f"{self.root}: no split list {listing}")
        self.names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
        if not self.names:
            raise FileNotFoundError(f"{listing} names no images")
        odd = next((name for name in self.names if not PLAIN_NAME.match(name)), None)
        if odd is not None:
            raise ValueError(f"{listing} names {odd[:80]!r}, which is no plain file name")
        folder = "images" if self.layout == "nyud" else "JPEGImages"
        images = []
        for name in tqdm(self.names, desc=f"reading {self.root.name} {split}",
                         disable=len(self.names) < 100, leave=False):
            path = self.root / folder / f"{name}.jpg"
            if not path.is_file():
                raise FileNotFoundError(f"{split}.txt names {name!r}, but {path} is missing")
            image = open_image(path).convert("RGB").resize((width, height),
                                                           Image.Resampling.BICUBIC)
            images.append(np.asarray(image, np.uint8))
        self.images = torch.from_numpy(np.stack(images))

    def _path(self, folders: tuple[str, ...], name: str, suffix: str) -> Path:
        for folder in folders:
            path = self.root / folder / f"{name}{suffix}"
            if path.is_file():
                return path
        raise FileNotFoundError(f"{self.root}: no {name}{suffix} in {' or '.join(folders)}/")

    def _png(self, folders: tuple[str, ...], name: str) -> np.ndarray:
        return np.asarray(open_image(self._path(folders, name, ".png")))

    def _npy(self, folder: str, name: str) -> np.ndarray:
        path = self._path((folder,), name, ".npy")
        try:
            return np.load(path, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise ValueError(f"{path} is no numpy array file ({err})") from None

    def _target(self, target: str, name: str) -> np.ndarray:
        if self.layout == "pascal":
            return self._pascal_target(target, name)
        if target == "label":  # 0 is void, class c is c + 1
            stored = self._png(("segmentation",), name).astype(np.int64)
            label = np.where(stored == 0, IGNORE_LABEL, stored - 1)
            return check_class_ids(label, self.classes, f"{self.root}: {name}'s label")
        if target == "depth":
            return self._npy("depth", name).astype(np.float32)
        if target == "normals":
            normals = self._npy("normals", name).astype(np.float32)
            if normals.ndim != 3 or normals.shape[-1] != 3:
                raise ValueError(f"{self.root}: {name}'s normals are {normals.shape}, not "
                                 "H x W x 3")
            return normals
        return (self._npy("edge", name) > 0).astype(np.int64)

    def _pascal_target(self, target: str, name: str) -> np.ndarray:
        if target == "label":
            label = self._png(("semseg/VOC12", "semseg/pascal-context"), name).astype(np.int64)
            return check_class_ids(label, self.classes, f"{self.root}: {name}'s label")
        if target == "saliency":
            return (self._png(("sal_distill",), name) > 127).astype(np.int64)
        if target == "parts":  # nobody in the picture: ignored, as M3ViT does
            parts = pascal_mat.human_parts(self.root / "human_parts" / f"{name}.mat")
            return np.full(self.size, IGNORE_LABEL, np.int64) if parts is None else parts
        labels = self._label_map(name)
        if target == "edges":
            return pascal_mat.edges(labels)
        return pascal_mat.distilled_normals(self._png(("normals_distill",), name), labels,
                                            f"{self.root}: {name}")

    def _label_map(self, name: str) -> np.ndarray:
        """PASCAL-Context's label map of ``name``, read once for its edges and normals."""
        if self._last_label_map[0] != name:
            path = self.root / "pascal-context" / "trainval" / f"{name}.mat"
            self._last_label_map = (name, pascal_mat.label_map(path))
        return self._last_label_map[1]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        item = {"image": self.images[index].permute(2, 0, 1).float() / 255.0}
        name = self.names[index]
        for target in self.targets:
            value = _resized(self._target(target, name), self.size)
            if target == "normals":
                length = np.linalg.norm(value, axis=-1, keepdims=True)
                known = length**2 > KNOWN_NORMAL
                value = np.where(known, value / np.maximum(length, 1e-6), 0).transpose(2, 0, 1)
                item[target] = torch.from_numpy(np.ascontiguousarray(value, np.float32))
            else:
                item[target] = torch.from_numpy(np.ascontiguousarray(value))
        return item

