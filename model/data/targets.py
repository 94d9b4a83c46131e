"""Ground truth the synthetic scenes imply beyond labels and depth: surface normals from
the depth buffer, edges at label boundaries, saliency of the things that stand out.

Normals are in the camera's frame (x right, y down, z forward), facing the camera: the
cross product of the 3D points' differences between a pixel's neighbours, unknown (0)
where a neighbour has no depth or the depth jumps (an occlusion boundary, not a surface).
"""

from __future__ import annotations

import numpy as np

from .scenes import PERSON, VEHICLE

#: A relative depth change between a pixel's two neighbours beyond which they lie on
#: different surfaces.
DEPTH_JUMP = 0.15
SALIENT_CLASSES = (VEHICLE, PERSON)


def surface_normals(depth: np.ndarray, horizon: float, focal: float) -> np.ndarray:
    """(3, H, W) unit normals, zero where unknown, from (H, W) metres (0: no depth)."""
    height, width = depth.shape
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64) + 0.5
    z = depth.astype(np.float64)
    points = np.stack([(cols - width / 2) * z / focal, (rows - horizon) * z / focal, z])
    across = points[:, 1:-1, 2:] - points[:, 1:-1, :-2]
    down = points[:, 2:, 1:-1] - points[:, :-2, 1:-1]
    normal = np.cross(down, across, axis=0)
    length = np.linalg.norm(normal, axis=0)
    centre = z[1:-1, 1:-1]
    neighbours = np.stack([z[1:-1, 2:], z[1:-1, :-2], z[2:, 1:-1], z[:-2, 1:-1]])
    known = ((neighbours > 0).all(axis=0) & (centre > 0) & (length > 0)
             & (np.abs(neighbours - centre).max(axis=0) <= DEPTH_JUMP * centre))
    normal = np.where(known, normal / np.maximum(length, 1e-12), 0.0)
    facing = np.sum(normal * points[:, 1:-1, 1:-1], axis=0) > 0
    normal = np.where(facing, -normal, normal)  # towards the camera
    out = np.zeros((3, height, width), dtype=np.float32)
    out[:, 1:-1, 1:-1] = normal
    return out


def label_edges(label: np.ndarray) -> np.ndarray:
    """(H, W) 1 where a 4-neighbour has another label, else 0."""
    edges = np.zeros(label.shape, dtype=np.uint8)
    vertical = label[1:] != label[:-1]
    horizontal = label[:, 1:] != label[:, :-1]
    edges[1:] |= vertical
    edges[:-1] |= vertical
    edges[:, 1:] |= horizontal
    edges[:, :-1] |= horizontal
    return edges


def saliency(label: np.ndarray) -> np.ndarray:
    """(H, W) 1 on vehicles and people, else 0."""
    return np.isin(label, SALIENT_CLASSES).astype(np.uint8)
