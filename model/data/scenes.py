"""Procedural street scenes with per-pixel semantic labels, metric depth and human parts.

Nothing is downloaded: each scene is drawn from a seed by a pinhole camera looking down
a street. The ground plane recedes to a horizon, so its depth follows from the row;
building facades line the street, receding with it; trees, vehicles, people and poles
stand on the ground at their own depth, sized by perspective (nearer is larger). A depth
buffer decides what is seen, so nearer things occlude farther ones.
Colours overlap between classes on purpose (grey cars, grey buildings, overcast skies),
and texture, lighting and sensor noise vary, so the tasks are learnable but not trivial.

numpy only; deterministic by seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np

CLASSES = ("sky", "road", "building", "vegetation", "vehicle", "person", "pole")
SKY, ROAD, BUILDING, VEGETATION, VEHICLE, PERSON, POLE = range(len(CLASSES))
#: People's parts, as M3ViT's PASCAL-Context human parts group them (0: no person).
PARTS = ("background", "head", "torso", "upper arms", "lower arms", "upper legs", "lower legs")
HEAD, TORSO, UPPER_ARM, LOWER_ARM, UPPER_LEG, LOWER_LEG = range(1, len(PARTS))
#: Depth where the ground is cut off (metres); sky has no depth and is marked 0.
MAX_DEPTH = 80.0
INVALID_DEPTH = 0.0


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (H, W, 3) uint8
    label: np.ndarray  # (H, W) uint8, a CLASSES index
    depth: np.ndarray  # (H, W) float32 metres, INVALID_DEPTH where there is none (sky)
    parts: np.ndarray  # (H, W) uint8, a PARTS index
    horizon: float  # the camera's horizon row (its principal point's)
    focal: float  # pixels


@dataclass(frozen=True)
class Camera:
    height: int
    width: int
    horizon: float  # image row of the horizon
    focal: float  # pixels
    mount: float  # camera height above the ground, metres

    def ground_row(self, depth: float) -> float:
        """Image row where the ground at ``depth`` metres is seen."""
        return self.horizon + self.focal * self.mount / depth

    def column(self, lateral: float, depth: float) -> float:
        return self.width / 2 + self.focal * lateral / depth

    def pixels(self, metres: float, depth: float) -> float:
        return self.focal * metres / depth


Region = tuple[slice, slice, np.ndarray]  # rows, columns, mask within them


class Canvas:
    """Image, label and depth painted together; later paint covers earlier.

    Shapes are regions: the bounding rows and columns and a mask inside them, so painting
    touches only the pixels a shape covers. A pixel belongs to a shape when its centre does.
    A depth buffer (the sky is infinitely far) lets a shape cover only what lies behind it;
    details painted at their surface's own depth (windows, lane marks) pass the test.
    """

    def __init__(self, camera: Camera, rng: np.random.Generator) -> None:
        self.camera, self.rng = camera, rng
        shape = (camera.height, camera.width)
        self.image = np.zeros((*shape, 3), dtype=np.float32)
        self.label = np.zeros(shape, dtype=np.uint8)
        self.depth = np.zeros(shape, dtype=np.float32)
        self.parts = np.zeros(shape, dtype=np.uint8)
        self.nearest = np.full(shape, np.inf, dtype=np.float32)

    def pixel_centres(self, rows: slice, cols: slice) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(rows.start, rows.stop, dtype=np.float32)[:, None] + 0.5
        x = np.arange(cols.start, cols.stop, dtype=np.float32)[None, :] + 0.5
        return y, x

    @staticmethod
    def _span(low: float, high: float, size: int) -> slice:
        """Pixels whose centre lies in [low, high)."""
        return slice(min(max(math.ceil(low - 0.5), 0), size),
                     min(max(math.ceil(high - 0.5), 0), size))

    def box(self, left: float, right: float, top: float, bottom: float) -> Region:
        rows = self._span(top, bottom, self.camera.height)
        cols = self._span(left, right, self.camera.width)
        return rows, cols, np.ones((rows.stop - rows.start, cols.stop - cols.start), bool)

    def ellipse(self, cx: float, cy: float, rx: float, ry: float) -> Region:
        rx, ry = max(rx, 0.5), max(ry, 0.5)
        rows = self._span(cy - ry, cy + ry, self.camera.height)
        cols = self._span(cx - rx, cx + rx, self.camera.width)
        y, x = self.pixel_centres(rows, cols)
        return rows, cols, ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0

    def paint(self, region: Region, colour: np.ndarray, cls: int,
              depth: float | np.ndarray, texture: float = 6.0, part: int = 0) -> None:
        """Paint where ``region`` is at least as near as what is there; ``depth`` is one
        number or an array over the region; ``part`` a person's part (PARTS)."""
        rows, cols, mask = region
        depth = np.broadcast_to(np.asarray(depth, dtype=np.float32), mask.shape)
        mask = mask & (depth <= self.nearest[rows, cols])
        count = int(mask.sum())
        if count == 0:
            return
        noise = self.rng.normal(0.0, texture, (count, 1)).astype(np.float32)
        self.image[rows, cols][mask] = colour + noise
        self.label[rows, cols][mask] = cls
        self.parts[rows, cols][mask] = part
        self.depth[rows, cols][mask] = depth[mask]
        self.nearest[rows, cols][mask] = depth[mask]


def _colour(rng: np.random.Generator, palette: list[tuple[int, int, int]],
            jitter: float = 18.0) -> np.ndarray:
    base = np.array(palette[rng.integers(len(palette))], dtype=np.float32)
    return np.clip(base + rng.normal(0.0, jitter, 3), 0, 255).astype(np.float32)


GREYS = [(90, 90, 95), (130, 130, 135), (170, 170, 172), (60, 60, 64)]
FACADES = [*GREYS, (150, 80, 60), (190, 170, 140), (120, 140, 160), (200, 195, 185)]
FOLIAGE = [(50, 110, 40), (80, 130, 50), (40, 80, 35), (110, 130, 60)]
GRASS = [(70, 120, 45), (100, 130, 60), (130, 125, 70)]
PAINT = [*GREYS, (170, 30, 30), (30, 60, 150), (230, 230, 230), (20, 20, 20), (200, 160, 40)]
CLOTHES = [(30, 30, 90), (150, 40, 40), (40, 40, 40), (200, 200, 190), (60, 110, 60),
           (120, 90, 60)]
SKIN = [(230, 190, 160), (190, 140, 100), (120, 80, 50)]


def _sky_and_ground(canvas: Canvas, road_centre: float, road_half: float) -> None:
    cam, rng = canvas.camera, canvas.rng
    overcast = rng.random() < 0.35
    top = _colour(rng, [(190, 190, 195)] if overcast else [(70, 130, 210)], 12)
    low = _colour(rng, [(215, 215, 215)] if overcast else [(170, 200, 235)], 12)
    everything = (slice(0, cam.height), slice(0, cam.width))
    rows, cols = np.mgrid[0:cam.height, 0:cam.width].astype(np.float32) + 0.5
    fraction = np.clip(rows / max(cam.horizon, 1.0), 0, 1)[..., None]
    canvas.image[:] = top * (1 - fraction) + low * fraction
    canvas.label[:] = SKY
    canvas.depth[:] = INVALID_DEPTH  # and the depth buffer stays at infinity

    below = rows > cam.horizon + 0.5
    distance = np.where(below, cam.focal * cam.mount / np.maximum(rows - cam.horizon, 1e-3),
                        MAX_DEPTH)
    distance = np.minimum(distance, MAX_DEPTH).astype(np.float32)
    lateral = (cols - cam.width / 2) * distance / cam.focal
    on_road = below & (np.abs(lateral - road_centre) <= road_half)
    canvas.paint((*everything, below & ~on_road), _colour(rng, GRASS), VEGETATION, distance,
                 texture=14)
    canvas.paint((*everything, on_road), _colour(rng, [(95, 95, 100), (120, 118, 115)], 10),
                 ROAD, distance, texture=7)
    dashes = on_road & (np.abs(lateral - road_centre) < 0.12) & (distance % 6.0 < 3.0)
    canvas.paint((*everything, dashes), np.array([225, 225, 210], np.float32), ROAD, distance,
                 texture=5)


def _facade(canvas: Canvas, lateral: float, near: float, far: float, height: float) -> None:
    """A building front along the street at ``lateral`` metres from the camera's axis,
    from ``near`` to ``far`` metres ahead: its depth recedes with the column."""
    cam, rng = canvas.camera, canvas.rng
    ends = [cam.column(lateral, near), cam.column(lateral, far)]
    rows = canvas._span(cam.horizon + cam.focal * (cam.mount - height) / near,
                        cam.ground_row(near), cam.height)
    cols = canvas._span(min(ends), max(ends), cam.width)
    y, x = canvas.pixel_centres(rows, cols)
    with np.errstate(divide="ignore"):
        depth = cam.focal * lateral / (x - cam.width / 2)  # where this column meets the facade
    elevation = cam.mount - (y - cam.horizon) * depth / cam.focal  # metres above the ground
    inside = (depth >= near) & (depth <= far) & (elevation >= 0) & (elevation <= height)
    facade = _colour(rng, FACADES)
    canvas.paint((rows, cols, inside), facade, BUILDING, depth)
    bay, storey = rng.uniform(2.5, 4.0), rng.uniform(2.8, 3.5)
    windows = (inside & (depth % bay < bay * rng.uniform(0.4, 0.6))
               & (elevation % storey > storey * 0.35) & (elevation % storey < storey * 0.8)
               & (elevation > storey * 0.9) & (elevation < height - 0.5))
    shade = np.clip(facade * rng.uniform(0.35, 0.6) + rng.normal(0, 10, 3), 0, 255)
    canvas.paint((rows, cols, windows), shade.astype(np.float32), BUILDING, depth, texture=4)


def _end_building(canvas: Canvas, depth: float, left_m: float, right_m: float) -> None:
    """A building across the far end of the street, facing the camera."""
    cam, rng = canvas.camera, canvas.rng
    bottom = cam.ground_row(depth)
    top = bottom - cam.pixels(rng.uniform(8.0, 30.0), depth)
    canvas.paint(canvas.box(cam.column(left_m, depth), cam.column(right_m, depth), top, bottom),
                 _colour(rng, FACADES), BUILDING, depth)


def _tree(canvas: Canvas, depth: float, lateral: float) -> None:
    cam, rng = canvas.camera, canvas.rng
    x, ground = cam.column(lateral, depth), cam.ground_row(depth)
    trunk_height = cam.pixels(rng.uniform(1.5, 3.0), depth)
    half_trunk = cam.pixels(0.18, depth)
    canvas.paint(canvas.box(x - half_trunk, x + half_trunk, ground - trunk_height, ground),
                 _colour(rng, [(90, 65, 40)], 10), VEGETATION, depth)
    radius = cam.pixels(rng.uniform(1.2, 3.0), depth)
    canvas.paint(canvas.ellipse(x, ground - trunk_height - radius * 0.7, radius,
                                radius * rng.uniform(0.8, 1.3)),
                 _colour(rng, FOLIAGE), VEGETATION, depth, texture=16)


def _vehicle(canvas: Canvas, depth: float, lateral: float) -> None:
    cam, rng = canvas.camera, canvas.rng
    x, ground = cam.column(lateral, depth), cam.ground_row(depth)
    half = cam.pixels(rng.uniform(0.85, 1.0), depth)
    height = cam.pixels(rng.uniform(1.3, 1.9), depth)
    body = _colour(rng, PAINT)
    canvas.paint(canvas.box(x - half, x + half, ground - height * 0.55, ground - height * 0.1),
                 body, VEHICLE, depth)
    canvas.paint(canvas.box(x - half * 0.75, x + half * 0.75, ground - height,
                            ground - height * 0.55), body * 0.9, VEHICLE, depth)
    canvas.paint(canvas.box(x - half * 0.65, x + half * 0.65, ground - height * 0.92,
                            ground - height * 0.6), np.array([40, 50, 65], np.float32),
                 VEHICLE, depth, texture=4)
    for side in (-1, 1):
        canvas.paint(canvas.ellipse(x + side * half * 0.7, ground - height * 0.1,
                                    half * 0.22, height * 0.12),
                     np.array([15, 15, 15], np.float32), VEHICLE, depth, texture=3)


def _person(canvas: Canvas, depth: float, lateral: float) -> None:
    cam, rng = canvas.camera, canvas.rng
    x, ground = cam.column(lateral, depth), cam.ground_row(depth)
    height = cam.pixels(rng.uniform(1.55, 1.95), depth)
    half = cam.pixels(0.28, depth)
    legs = _colour(rng, CLOTHES)
    for side in (-1, 1):
        left, right = x + side * half * 0.5 - half * 0.35, x + side * half * 0.5 + half * 0.35
        canvas.paint(canvas.box(left, right, ground - height * 0.47, ground - height * 0.24),
                     legs, PERSON, depth, part=UPPER_LEG)
        canvas.paint(canvas.box(left, right, ground - height * 0.24, ground), legs, PERSON,
                     depth, part=LOWER_LEG)
    shirt = _colour(rng, CLOTHES)
    canvas.paint(canvas.box(x - half, x + half, ground - height * 0.85, ground - height * 0.45),
                 shirt, PERSON, depth, part=TORSO)
    for side in (-1, 1):  # arms hanging beside the torso
        left, right = sorted((x + side * half, x + side * half * 1.3))
        canvas.paint(canvas.box(left, right, ground - height * 0.84, ground - height * 0.65),
                     shirt, PERSON, depth, part=UPPER_ARM)
        canvas.paint(canvas.box(left, right, ground - height * 0.65, ground - height * 0.48),
                     shirt * 0.9, PERSON, depth, part=LOWER_ARM)
    canvas.paint(canvas.ellipse(x, ground - height * 0.92, half * 0.55, height * 0.075),
                 _colour(rng, SKIN, 8), PERSON, depth, part=HEAD)


def _pole(canvas: Canvas, depth: float, lateral: float) -> None:
    cam, rng = canvas.camera, canvas.rng
    x, ground = cam.column(lateral, depth), cam.ground_row(depth)
    height = cam.pixels(rng.uniform(4.0, 8.0), depth)
    half = max(cam.pixels(rng.uniform(0.12, 0.25), depth), 0.5)
    colour = _colour(rng, [(70, 70, 70), (110, 110, 105), (50, 70, 50)], 10)
    canvas.paint(canvas.box(x - half, x + half, ground - height, ground), colour, POLE, depth)
    if rng.random() < 0.5:  # a sign on the pole
        size = cam.pixels(rng.uniform(0.5, 0.8), depth)
        canvas.paint(canvas.box(x - size / 2, x + size / 2, ground - height,
                                ground - height + size),
                     _colour(rng, [(200, 30, 30), (30, 60, 170), (230, 200, 40)], 10),
                     POLE, depth)


def _camera(rng: np.random.Generator, height: int, width: int) -> Camera:
    """One camera rig, as in a real driving data set: fixed lens, fixed mount (give or
    take the suspension), pitch varying the horizon. Scale stays observable."""
    return Camera(height, width, horizon=height * rng.uniform(0.38, 0.50),
                  focal=width * 0.85, mount=rng.uniform(1.5, 1.6))


def _objects(rng: np.random.Generator, road_centre: float, road_half: float,
             ) -> list[Callable[[Canvas], None]]:
    """Painters for everything standing on the ground; the depth buffer orders them."""
    edge_left, edge_right = road_centre - road_half, road_centre + road_half
    items: list[Callable[[Canvas], None]] = []
    for side in (-1, 1):
        edge = edge_left if side < 0 else edge_right
        start = rng.uniform(4.0, 15.0)
        while start < 70.0:  # a row of facades, each set back a little differently
            length = rng.uniform(8.0, 30.0)
            if rng.random() < 0.8:
                items.append(partial(_facade, lateral=edge + side * rng.uniform(2.5, 6.0),
                                     near=start, far=min(start + length, MAX_DEPTH),
                                     height=rng.uniform(6.0, 25.0)))
            start += length + rng.uniform(0.0, 8.0)
        for _ in range(rng.integers(0, 4)):
            items.append(partial(_tree, depth=rng.uniform(6.0, 50.0),
                                 lateral=edge + side * rng.uniform(0.8, 2.5)))
        for _ in range(rng.integers(0, 4)):
            items.append(partial(_pole, depth=rng.uniform(4.0, 30.0),
                                 lateral=edge + side * rng.uniform(0.3, 1.0)))
        for _ in range(rng.integers(0, 4)):
            items.append(partial(_person, depth=rng.uniform(3.0, 20.0),
                                 lateral=edge + side * rng.uniform(0.2, 2.0)))
    if rng.random() < 0.5:
        items.append(partial(_end_building, depth=rng.uniform(60.0, 78.0),
                             left_m=road_centre - 20.0, right_m=road_centre + 20.0))
    for _ in range(rng.integers(0, 5)):
        items.append(partial(_vehicle, depth=rng.uniform(4.0, 35.0), lateral=rng.uniform(
            edge_left + 1.0, max(edge_right - 1.0, edge_left + 1.0))))
    if rng.random() < 0.3:  # someone crossing the street
        items.append(partial(_person, depth=rng.uniform(4.0, 25.0),
                             lateral=rng.uniform(edge_left, edge_right)))
    return items


def render_scene(seed: int, height: int, width: int) -> Scene:
    """Draw the scene of ``seed`` at ``height`` x ``width`` pixels."""
    rng = np.random.default_rng(seed)
    canvas = Canvas(_camera(rng, height, width), rng)
    road_centre, road_half = rng.uniform(-3.0, 3.0), rng.uniform(3.0, 7.0)
    _sky_and_ground(canvas, road_centre, road_half)
    for draw in _objects(rng, road_centre, road_half):
        draw(canvas)
    # lighting and sensor: exposure, colour cast, noise
    light = rng.uniform(0.65, 1.3) * rng.uniform(0.9, 1.1, 3)
    image = canvas.image * light + rng.normal(0.0, rng.uniform(2.0, 8.0), canvas.image.shape)
    return Scene(np.clip(image, 0, 255).astype(np.uint8), canvas.label, canvas.depth,
                 canvas.parts, canvas.camera.horizon, canvas.camera.focal)
