"""Design-space exploration for a ZCU104: sweep the attention parallelism P, the linear
tile IN x OUT, the precision preset and the clock through the cycle and resource models,
keep the points that fit the xczu7ev, and find the Pareto front of FPS against DSPs."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass

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
EDGE_MOE_POINT = {"parallel": 4, "tile": (16, 16), "precision": "edge-moe", "clock_mhz": 300.0}


@dataclass(frozen=True)
class Point:
    parallel: int
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
        return (self.parallel, self.tile, self.precision, self.clock_mhz) == (
            where["parallel"], tuple(where["tile"]), where["precision"], where["clock_mhz"])


def with_point(design: Design, parallel: int | None = None,
               tile: tuple[int, int] | None = None, precision: str | None = None,
               clock_mhz: float | None = None) -> Design:
    """``design`` with the given parameters in place of its own (None keeps one)."""
    changes = {"attention_parallel": parallel, "clock_mhz": clock_mhz,
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
               clock_mhz: float, base: AcceleratorConfig | None = None) -> Design:
    return with_point(Design(config, base or AcceleratorConfig()), parallel, tile, precision,
                      clock_mhz)


def evaluate(config: ModelConfig, parallel: int, tile: tuple[int, int], precision: str,
             clock_mhz: float, stats: ExpertStats | None = None) -> Point:
    design = design_for(config, parallel, tile, precision, clock_mhz)
    return Point(parallel, tile, precision, clock_mhz, latency(design, stats).seconds,
                 resources(design))


def buildable(config: ModelConfig, parallel: int, tile: tuple[int, int],
              precision: str) -> bool:
    """Whether the generator can implement this point (``sim.hardware_rules``)."""
    design = design_for(config, parallel, tile, precision, CLOCKS_MHZ[0])
    return not design_problems(config, design.accelerator, design.feature_bits,
                               design.weight_bits)


def sweep(config: ModelConfig, stats: ExpertStats | None = None,
          parallel: tuple[int, ...] = PARALLEL, tiles: tuple[tuple[int, int], ...] = TILES,
          precisions: tuple[str, ...] = tuple(PRECISIONS),
          clocks: tuple[float, ...] = CLOCKS_MHZ) -> list[Point]:
    """Every buildable point of the grid."""
    return [evaluate(config, p, t, q, c, stats)
            for p, t, q, c in itertools.product(parallel, tiles, precisions, clocks)
            if buildable(config, p, t, q)]


def pareto(points: list[Point]) -> list[Point]:
    """The fitting points no other fitting point beats on both FPS and DSPs."""
    fitting = sorted((p for p in points if p.fits), key=lambda p: (p.resources.dsp, -p.fps))
    front, best = [], 0.0
    for point in fitting:
        if point.fps > best:
            front.append(point)
            best = point.fps
    return front
