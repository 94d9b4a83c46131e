"""Design-space exploration for a ZCU104: sweep the attention parallelism P, the heads
attention computes side by side, the linear tile IN x OUT, the precision preset and the
clock through the cycle and resource models, keep the points that fit the xczu7ev, and
find the Pareto front of FPS against DSPs."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from typing import Any

from edgemoe.sim.config import AcceleratorConfig, ModelConfig
from edgemoe.sim.hardware_rules import design_problems
from edgemoe.sim.quant import PRESET_BITS

from .cycle_model import Design, ExpertStats, latency
from .resource_model import Resources, resources

#: Bits of (features, weights) per precision preset.
PRECISIONS = PRESET_BITS
PARALLEL = (1, 2, 4, 8, 16, 32)
TILES = ((4, 4), (8, 8), (16, 8), (16, 16), (32, 16), (32, 32))
CLOCKS_MHZ = (200.0, 250.0, 300.0)
#: Edge-MoE's published design point (every head side by side)
EDGE_MOE_POINT = {"parallel": 4, "heads": None, "tile": (16, 16), "precision": "edge-moe",
                  "clock_mhz": 300.0}


@dataclass(frozen=True)
class Point:
    parallel: int
    heads: int | None  # attention heads side by side (None: every head)
    tile: tuple[int, int]
    precision: str
    clock_mhz: float
    seconds: float
    resources: Resources

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds

    @property
    def fits(self) -> bool:
        return self.resources.fits()

    def matches(self, where: dict) -> bool:
        return (self.parallel, self.heads, self.tile, self.precision, self.clock_mhz) == (
            where["parallel"], where["heads"], tuple(where["tile"]), where["precision"],
            where["clock_mhz"])


def with_point(design: Design, parallel: int | None = None,
               tile: tuple[int, int] | None = None, precision: str | None = None,
               clock_mhz: float | None = None, heads: int | None = None) -> Design:
    """``design`` with the given parameters in place of its own (None keeps one)."""
    changes = {"attention_parallel": parallel, "attention_heads": heads,
               "clock_mhz": clock_mhz,
               "tile_in": tile and tile[0], "tile_out": tile and tile[1]}
    accelerator = dataclasses.replace(design.accelerator,
                                      **{k: v for k, v in changes.items() if v is not None})
    features, weights = PRECISIONS[precision] if precision else (design.feature_bits,
                                                                 design.weight_bits)
    # an artifact's operand widths hold for its own precision only
    same = (features, weights) == (design.feature_bits, design.weight_bits)
    return dataclasses.replace(design, accelerator=accelerator, feature_bits=features,
                               weight_bits=weights, widths=design.widths if same else None)


def design_for(config: ModelConfig, parallel: int, tile: tuple[int, int], precision: str,
               clock_mhz: float, heads: int | None = None) -> Design:
    return with_point(Design(config, AcceleratorConfig()), parallel, tile, precision,
                      clock_mhz, heads)


def evaluate(config: ModelConfig, parallel: int, tile: tuple[int, int], precision: str,
             clock_mhz: float, stats: ExpertStats | None = None,
             heads: int | None = None) -> Point:
    design = design_for(config, parallel, tile, precision, clock_mhz, heads)
    return Point(parallel, heads, tile, precision, clock_mhz, latency(design, stats).seconds,
                 resources(design))


def buildable(config: ModelConfig, parallel: int, tile: tuple[int, int],
              precision: str, heads: int | None = None) -> bool:
    """Whether the generator can implement this point (``sim.hardware_rules``)."""
    design = design_for(config, parallel, tile, precision, CLOCKS_MHZ[0], heads)
    return not design_problems(config, design.accelerator, design.feature_bits,
                               design.weight_bits)


def head_choices(config: ModelConfig) -> tuple[int | None, ...]:
    """Every head at once (None), or each proper divisor of the heads side by side."""
    return (None, *(h for h in range(1, config.heads) if config.heads % h == 0))


#: P, heads side by side, tile, precision, clock (MHz)
GridPoint = tuple[int, int | None, tuple[int, int], str, float]


def grid(config: ModelConfig, parallel: tuple[int, ...] = PARALLEL,
         tiles: tuple[tuple[int, int], ...] = TILES,
         precisions: tuple[str, ...] = tuple(PRECISIONS), clocks: tuple[float, ...] = CLOCKS_MHZ,
         heads: tuple[int | None, ...] | None = None) -> list[GridPoint]:
    """Every buildable point of the grid (``heads``: every choice of ``head_choices``)."""
    product = itertools.product(parallel, heads or head_choices(config), tiles, precisions,
                                clocks)
    return [(p, h, t, q, c) for p, h, t, q, c in product if buildable(config, p, t, q, h)]


class PointEvaluator:
    """Points of one model's grid through the cycle and resource models (a Ray actor's
    state: the model and its routing, sent once)."""

    def __init__(self, config: ModelConfig, stats: ExpertStats | None) -> None:
        self.config, self.stats = config, stats

    def evaluate(self, points: list[GridPoint]) -> list[Point]:
        return [evaluate(self.config, p, t, q, c, self.stats, h) for p, h, t, q, c in points]


def sweep(config: ModelConfig, stats: ExpertStats | None = None,
          parallel: tuple[int, ...] = PARALLEL, tiles: tuple[tuple[int, int], ...] = TILES,
          precisions: tuple[str, ...] = tuple(PRECISIONS),
          clocks: tuple[float, ...] = CLOCKS_MHZ,
          heads: tuple[int | None, ...] | None = None) -> list[Point]:
    """Every buildable point of the grid (``grid``), evaluated here."""
    return PointEvaluator(config, stats).evaluate(
        grid(config, parallel, tiles, precisions, clocks, heads))


def sweep_on_ray(ray: Any, config: ModelConfig, stats: ExpertStats | None, workers: int,
                 progress: bool = True) -> list[Point]:
    """``sweep`` of the whole grid with its points shared out among ``workers`` Ray
    workers (``ray``: the connected module), in grid order."""
    from edgemoe.sim.cluster import run_jobs

    points = grid(config)
    chunks = [points[i::workers * 4] for i in range(min(len(points), workers * 4))]
    done = run_jobs(ray, PointEvaluator, (config, stats), [(chunk,) for chunk in chunks],
                    "evaluate", workers, desc="dse", progress=progress)
    evaluated = {}
    for chunk in done:
        evaluated.update(((p.parallel, p.heads, p.tile, p.precision, p.clock_mhz), p)
                         for p in chunk)
    return [evaluated[p] for p in points]


def pareto(points: list[Point]) -> list[Point]:
    """The fitting points no other fitting point beats on both FPS and DSPs."""
    fitting = sorted((p for p in points if p.fits), key=lambda p: (p.resources.dsp, -p.fps))
    front, best = [], 0.0
    for point in fitting:
        if point.fps > best:
            front.append(point)
            best = point.fps
    return front
