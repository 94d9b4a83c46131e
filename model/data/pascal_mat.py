"""PASCAL-Context's ground truth that lives in MATLAB files, read as M3ViT's PASCAL loader
reads it (facts from its ``data/pascal_context.py``; the code here is ours).

- Edges: ``pascal-context/trainval/ID.mat`` holds ``LabelMap`` (the context class of every
  pixel). An edge is where the 4-neighbour Laplacian of the class ids is not zero
  (OpenCV's default border, reflect-101), thinned to one pixel (scikit-image's ``thin``).
- Human parts: ``human_parts/ID.mat`` holds PASCAL-Part's ``anno.objects``; every person
  (class 15) with parts has each part's mask painted with its group of ``PART_GROUPS``, in
  the file's order. An image where that paints nothing is ignored (M3ViT's
  ``AddIgnoreRegions`` makes it all 255), not taught as background.
- Normals: ``normals_distill/ID.png`` (RGB, 2 x / 255 - 1) is kept only on the context
  classes NYUD-v2 also has (``NORMAL_CLASSES``) and is unknown (0) elsewhere.

The files are hostile until read: only MATLAB 5 files are taken, and the bytes they inflate
to are bounded before scipy reads them (a compressed element can hide a bomb; scipy's
objects for a file take many times its bytes, so the bound is tight).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

#: At most this many bytes, on disk and inflated, in one MATLAB file (a PASCAL-Part
#: annotation is tens of kilobytes, a label map of doubles at 500 x 500 two megabytes).
MAX_MAT_BYTES = 4 << 20
#: Above every PASCAL-Context class id (459).
MAX_CLASS_ID = 1 << 16
#: PASCAL-Part's person class.
PERSON = 15
#: M3ViT's six human parts (its ``num_human_parts=6``): PASCAL-Part's part names by group.
PART_GROUPS = {
    1: ("hair", "head", "lear", "lebrow", "leye", "mouth", "nose", "rear", "rebrow", "reye"),
    2: ("neck", "torso"),
    3: ("luarm", "ruarm"),
    4: ("lhand", "llarm", "rhand", "rlarm"),
    5: ("luleg", "ruleg"),
    6: ("lfoot", "llleg", "rfoot", "rlleg"),
}
PART_GROUP = {name: group for group, names in PART_GROUPS.items() for name in names}
#: The PASCAL-Context class ids whose names NYUD-v2's classes also have (``unknown``
#: excepted), and ``tvmonitor``: where M3ViT keeps its distilled normals.
NORMAL_CLASSES = frozenset((
    3, 4, 6, 9, 10, 11, 13, 15, 17, 18, 22, 23, 29, 30, 33, 34, 36, 37, 38, 39, 41, 43, 46,
    49, 50, 51, 53, 55, 56, 59, 61, 62, 65, 66, 68, 69, 72, 73, 78, 83, 84, 85, 87, 88, 95,
    96, 101, 104, 105, 107, 111, 113, 115, 122, 124, 135, 141, 142, 143, 146, 150, 154, 157,
    158, 159, 165, 172, 174, 181, 183, 184, 191, 193, 195, 197, 199, 202, 213, 215, 216, 219,
    220, 223, 225, 228, 230, 232, 233, 238, 239, 242, 243, 246, 250, 251, 252, 255, 260, 261,
    263, 269, 272, 273, 275, 281, 283, 284, 285, 286, 287, 288, 290, 291, 292, 293, 295, 304,
    307, 309, 310, 314, 315, 319, 323, 329, 330, 331, 336, 342, 345, 349, 350, 351, 352, 355,
    357, 368, 370, 371, 374, 379, 380, 383, 384, 397, 401, 403, 405, 407, 408, 411, 412, 413,
    414, 417, 419, 421, 423, 427, 429, 430, 432, 440, 441, 442, 443, 444, 446, 454, 457,
))

_HEADER_BYTES = 128
_COMPRESSED = 15  # miCOMPRESSED


def _checked_mat_bytes(path: Path) -> bytes:
    """``path``'s bytes, or a one-line ValueError unless it is a MATLAB 5 file that inflates
    to at most ``MAX_MAT_BYTES``."""
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing")
    if path.stat().st_size > MAX_MAT_BYTES:
        raise ValueError(f"{path} is over {MAX_MAT_BYTES} bytes, no PASCAL annotation")
    data = path.read_bytes()
    order = {b"IM": "<", b"MI": ">"}.get(data[126:128])
    if len(data) < _HEADER_BYTES or order is None:
        raise ValueError(f"{path} is no MATLAB 5 file")
    if struct.unpack_from(f"{order}H", data, 124)[0] != 0x0100:
        raise ValueError(f"{path} is a MATLAB file of another version than 5 (save it with "
                         "-v7 or older)")
    position, inflated = _HEADER_BYTES, 0
    while position + 8 <= len(data):
        kind, size = struct.unpack_from(f"{order}II", data, position)
        position += 8
        if kind == _COMPRESSED:
            try:
                inflater = zlib.decompressobj()
                inflated += len(inflater.decompress(data[position:position + size],
                                                    MAX_MAT_BYTES - inflated + 1))
            except zlib.error as err:
                raise ValueError(f"{path} is corrupt ({err})") from None
        else:
            inflated += size
            size += -size % 8
        if inflated > MAX_MAT_BYTES:
            raise ValueError(f"{path} inflates to over {MAX_MAT_BYTES} bytes")
        position += size
    return data


def _load(path: Path, variable: str) -> np.ndarray:
    from scipy.io import loadmat

    data = _checked_mat_bytes(path)
    try:
        contents = loadmat(io.BytesIO(data), variable_names=[variable])
    except Exception as err:  # scipy raises many kinds on a corrupt file
        raise ValueError(f"{path} cannot be read as a MATLAB file ({err})") from None
    if variable not in contents:
        raise ValueError(f"{path} holds no {variable!r}")
    return contents[variable]


def label_map(path: Path) -> np.ndarray:
    """(H, W) int64 PASCAL-Context class ids from ``path``'s ``LabelMap``."""
    labels = _load(path, "LabelMap")
    if labels.ndim != 2 or labels.dtype.kind not in "uif" or labels.size == 0:
        raise ValueError(f"{path}: LabelMap is {labels.dtype} {labels.shape}, not an (H, W) "
                         "map of class ids")
    if (not np.all(np.isfinite(labels)) or np.any(labels < 0) or np.any(labels >= MAX_CLASS_ID)
            or np.any(labels != np.round(labels))):
        raise ValueError(f"{path}: LabelMap holds values that are no class ids")
    return labels.astype(np.int64)


def edges(labels: np.ndarray) -> np.ndarray:
    """(H, W) int64 0/1: the thinned non-zero 4-neighbour Laplacian of class ids."""
    from skimage.morphology import thin

    padded = np.pad(labels, 1, mode="reflect")  # OpenCV's BORDER_REFLECT_101
    laplacian = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
                 - 4 * labels)
    return thin(laplacian != 0).astype(np.int64)


def human_parts(path: Path) -> np.ndarray | None:
    """(H, W) int64 part groups (0: background) of the people in ``path``'s PASCAL-Part
    annotation, or None if it shows no part of a person."""
    annotation = _load(path, "anno")
    try:
        objects = annotation["objects"][0, 0].ravel()
        parts = None
        for item in objects:
            if int(np.asarray(item["class_ind"]).ravel()[0]) != PERSON:
                continue
            for part in np.asarray(item["parts"]).ravel():
                name = str(np.asarray(part["part_name"]).ravel()[0])
                mask = np.asarray(part["mask"]).astype(bool)
                if mask.ndim != 2:
                    raise ValueError(f"part {name[:40]!r}'s mask is {mask.shape}, not (H, W)")
                if name not in PART_GROUP:
                    raise ValueError(f"part {name[:40]!r} is none of PASCAL-Part's person parts")
                if parts is None:
                    parts = np.zeros(mask.shape, np.int64)
                if mask.shape != parts.shape:
                    raise ValueError(f"part {name!r}'s mask is {mask.shape}, the others "
                                     f"{parts.shape}")
                parts[mask] = PART_GROUP[name]
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"{path} is not in PASCAL-Part's annotation layout "
                         f"(anno.objects.class_ind, .parts.part_name, .parts.mask): {err}"
                         ) from None
    return parts if parts is not None and parts.any() else None


def distilled_normals(normals: np.ndarray, labels: np.ndarray, where: str) -> np.ndarray:
    """(H, W, 3) float32 normals from an (H, W, 3) uint8 image, 0 outside ``NORMAL_CLASSES``."""
    if normals.ndim != 3 or normals.shape[-1] != 3 or normals.shape[:2] != labels.shape:
        raise ValueError(f"{where}: the distilled normals are {normals.shape}, the label map "
                         f"{labels.shape}; they must be the same (H, W) with 3 channels")
    kept = np.isin(labels, list(NORMAL_CLASSES))[..., None]
    return np.where(kept, 2.0 * normals.astype(np.float32) / 255.0 - 1.0, 0.0).astype(np.float32)
