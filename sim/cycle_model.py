"""Cycles of the generated accelerator, from the loop structure the HLS generator emits.

Each kernel of ``hls/templates/project`` is written down here as its loops: trip counts,
initiation intervals, pipeline depths, and which loops are unrolled or overlap (the linear
unit's read/compute/write dataflow, the MoE's expert loading beside the previous expert's
rows). DDR traffic is counted per m_axi port: a 256-bit word per cycle at most, times a
burst efficiency, plus a latency per transfer; a loop that moves values one per cycle
(``load_features``, ``load_weights``) is bound by whichever of the two is slower.

MoE layers cost what the routing does: the experts a task actually activates in a layer
and the tokens each receives (``ExpertStats``, from the simulator's trace), so only the
experts loaded are counted.

The figures are a model, not a synthesis report: ``PIPELINE_DEPTH`` and the port
parameters are typical Vitis HLS values on a ZCU104, to be corrected from real reports
(``hls/csynth_report.py`` puts both side by side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from .config import AcceleratorConfig, ModelConfig

#: Stages of a pipelined loop body (a multiply-accumulate, a requantize): its fill time.
PIPELINE_DEPTH = 8
#: Cycles of the approximation units HLS builds from the same integer recipes as the RTL.
EXP_LATENCY, RECIPROCAL_LATENCY, RSQRT_LATENCY = 6, 7, 8
#: One softmax update: compare, exp, rescale (a product and its rounding), add.
SOFTMAX_UPDATE_LATENCY = EXP_LATENCY + 4


@dataclass(frozen=True)
class MemoryPort:
    """One m_axi port into DDR."""

    axi_bits: int = 256
    burst_efficiency: float = 0.85  # sustained fraction of one word per cycle in bursts
    latency: int = 64  # cycles from a request to its first word (PS DDR4 through the HP port)


def pipelined(trip: int, ii: int = 1, depth: int = PIPELINE_DEPTH) -> int:
    """A pipelined loop: a new iteration every ``ii`` cycles, the last one ``depth`` long."""
    return 0 if trip <= 0 else (trip - 1) * ii + depth


@dataclass(frozen=True)
class Cost:
    """Cycles of a loop nest and how much of that its DDR port is busy."""

    cycles: int
    memory: int = 0  # cycles of port traffic inside ``cycles``

    def __add__(self, other: Cost) -> Cost:
        return Cost(self.cycles + other.cycles, self.memory + other.memory)

    def __mul__(self, times: int) -> Cost:
        return Cost(self.cycles * times, self.memory * times)

    __rmul__ = __mul__

    @property
    def bound(self) -> str:
        return "memory" if self.memory * 2 >= self.cycles else "compute"


def transfer(values: int, bits: int, port: MemoryPort, per_cycle: int = 1) -> Cost:
    """``values`` moved through a pipelined loop taking ``per_cycle`` of them a cycle: the
    loop or the port, whichever is slower, after the port's latency."""
    if values <= 0:
        return Cost(0)
    words = math.ceil(values * bits / port.axi_bits)
    port_cycles = math.ceil(words / port.burst_efficiency)
    loop_cycles = math.ceil(values / per_cycle)
    return Cost(max(port_cycles, loop_cycles) + port.latency, port_cycles + port.latency)


@dataclass(frozen=True)
class ExpertStats:
    """Per MoE layer, the tokens each activated expert receives (one task, one image)."""

    queues: dict[int, tuple[int, ...]]

    @classmethod
    def from_queues(cls, queues: dict[int, list]) -> ExpertStats:
        """From a simulator trace (``SimResult.queues``: per layer, each expert's tokens)."""
        return cls({layer: tuple(len(q) for q in per_expert)
                    for layer, per_expert in queues.items()})

    @classmethod
    def uniform(cls, config: ModelConfig) -> ExpertStats:
        """Every expert active with an equal share: the routing's worst case for loading."""
        share = config.tokens * config.top_k / config.experts
        return cls({layer: (math.ceil(share),) * config.experts for layer in config.moe_layers})

    def active(self, layer: int) -> int:
        return sum(1 for length in self.queues[layer] if length > 0)


@dataclass(frozen=True)
class Design:
    """The accelerator's parameters the cycles depend on."""

    config: ModelConfig
    accelerator: AcceleratorConfig
    feature_bits: int = 16  # the lanes of feature maps in DDR and of the multipliers' inputs
    weight_bits: int = 16
    port: MemoryPort = field(default_factory=MemoryPort)

    @property
    def clock_hz(self) -> float:
        return self.accelerator.clock_mhz * 1e6


@dataclass(frozen=True)
class Step:
    """One kernel call: which layer, which kernel, its cost."""

    layer: str
    kernel: str
    cost: Cost


# ------------------------------------------------------------------------------ kernels
def load_features(design: Design, count: int) -> Cost:
    return transfer(count, design.feature_bits, design.port)


def store_features(design: Design, count: int) -> Cost:
    lanes = design.port.axi_bits // design.feature_bits
    return transfer(math.ceil(count / lanes), design.port.axi_bits, design.port)


def load_weights(design: Design, count: int) -> Cost:
    return transfer(count, design.weight_bits, design.port)


def patch_embed(design: Design) -> Cost:
    """The embedding as a linear layer (PATCH_INPUTS -> DIM) on the tile: load it and the
    positions; per patch, gather its pixels, one row through the tile (the position as its
    residual), store; the CLS token is its position alone."""
    c = design.config
    inputs = c.patch * c.patch * 3
    setup = (load_layer(design, inputs, c.dim) + load_weights(design, c.tokens * c.dim)
             + Cost(pipelined(c.dim)) + store_features(design, c.dim))
    per_patch = (pipelined(inputs) + pipelined(inputs)
                 + linear_compute_row(design, inputs, c.dim)
                 + store_features(design, c.dim).cycles)
    return setup + Cost(per_patch * c.patches)


def layer_norm(design: Design) -> Cost:
    c = design.config
    per_token = (load_features(design, c.dim) + Cost(pipelined(c.dim) + RSQRT_LATENCY
                                                     + pipelined(c.dim))
                 + store_features(design, c.dim))
    return load_weights(design, 2 * c.dim) + per_token * c.tokens


def load_layer(design: Design, in_dim: int, out_dim: int) -> Cost:
    """A layer's weights into a LayerWeights buffer, a word of them a cycle (each lane to
    its own bank), then its bias one value a cycle."""
    lanes = design.port.axi_bits // design.weight_bits
    return (transfer(in_dim * out_dim, design.weight_bits, design.port, per_cycle=lanes)
            + load_weights(design, out_dim))


def linear_compute_row(design: Design, in_dim: int, out_dim: int) -> int:
    """compute_row: per tile of TILE_OUT outputs, in_dim / TILE_IN MAC steps at II 1 (the
    buffer's TILE_IN x TILE_OUT banks serve a step's weights at once), then TILE_OUT
    finishing cycles (bias, residual, rounding or GELU)."""
    a = design.accelerator
    tiles_out = math.ceil(out_dim / a.tile_out)
    return tiles_out * (pipelined(math.ceil(in_dim / a.tile_in)) + pipelined(a.tile_out))


def linear(design: Design, in_dim: int, out_dim: int, residual: bool = False) -> Cost:
    """A layer over DDR feature maps: load its weights, then read / compute / write rows
    in a dataflow region (the slowest stage sets the pace, the others fill and drain)."""
    c = design.config
    weights = load_layer(design, in_dim, out_dim)
    read = load_features(design, in_dim) + (load_features(design, out_dim) if residual
                                            else Cost(0))
    compute = Cost(pipelined(in_dim) + linear_compute_row(design, in_dim, out_dim)
                   + pipelined(out_dim) + (pipelined(out_dim) if residual else 0))
    write = Cost(pipelined(out_dim)) + store_features(design, out_dim)
    stages = (read, compute, write)
    slowest = max(stages, key=lambda s: s.cycles)
    fill = sum(s.cycles for s in stages) - slowest.cycles
    return weights + Cost(slowest.cycles * c.tokens + fill,
                          sum(s.memory for s in stages) * c.tokens)


def attention(design: Design) -> Cost:
    """K and V read once per layer, a word a cycle; then per block of P query rows, one
    (row, head) pair a cycle with the head's products side by side, for the scores and again
    for A x V. A row's softmax state comes round every P x HEADS cycles; when that is
    shorter than its update, the loop waits (an initiation interval above 1)."""
    c, p = design.config, design.accelerator.attention_parallel
    lanes = design.port.axi_bits // design.feature_bits
    rows_on_chip = transfer(math.ceil(c.tokens * c.dim / lanes), design.port.axi_bits,
                            design.port)
    pairs = p * c.heads
    ii = max(1, math.ceil(SOFTMAX_UPDATE_LATENCY / pairs))
    depth = PIPELINE_DEPTH + EXP_LATENCY
    total = rows_on_chip * 2
    for first in range(0, c.tokens, p):
        rows = min(p, c.tokens - first)
        queries = load_features(design, c.dim) * rows
        scores = Cost(pipelined(c.tokens * pairs, ii=ii, depth=depth))
        stats = Cost(rows * c.heads * RECIPROCAL_LATENCY + p * pipelined(c.dim))
        values = Cost(pipelined(c.tokens * pairs, depth=depth))
        store = (Cost(pipelined(c.dim)) + store_features(design, c.dim)) * rows
        total = total + queries + scores + stats + values + store
    return total


def gate(design: Design) -> Cost:
    c = design.config
    # all experts' logits at once (one input a cycle), then max, exp, sum, 1/sum, top-k
    per_token = Cost(pipelined(c.dim) + c.experts + c.experts * EXP_LATENCY
                     + RECIPROCAL_LATENCY + c.experts * (c.experts + 1))
    return (load_features(design, c.tokens * c.dim) * 2  # normed rows and the residual
            + Cost(pipelined(c.tokens * c.dim))
            + load_weights(design, c.experts * c.dim) + per_token * c.tokens)


def expert_load(design: Design) -> Cost:
    c = design.config
    return load_layer(design, c.dim, c.mlp_hidden) + load_layer(design, c.mlp_hidden, c.dim)


def expert_run(design: Design, tokens: int) -> Cost:
    c = design.config
    per_token = (pipelined(c.dim) + linear_compute_row(design, c.dim, c.mlp_hidden)
                 + pipelined(c.mlp_hidden) + linear_compute_row(design, c.mlp_hidden, c.dim))
    return Cost(2 * tokens * pipelined(c.dim) + tokens * per_token)


def moe(design: Design, queues: tuple[int, ...]) -> tuple[Cost, Cost]:
    """(gate and routing, experts): the first active expert loads alone, then each expert's
    rows run while the next expert's weights load (ping/pong), then the results go out."""
    c = design.config
    active = [n for n in queues if n > 0]
    experts = expert_load(design) if active else Cost(0)
    for j, tokens in enumerate(active):
        run = expert_run(design, tokens)
        nxt = expert_load(design) if j + 1 < len(active) else Cost(0)
        experts = experts + (run if run.cycles >= nxt.cycles else nxt)
    out = (Cost(pipelined(c.dim)) + store_features(design, c.dim)) * c.tokens
    return gate(design), experts + out


# ------------------------------------------------------------------------------ the network
def network_steps(design: Design, stats: ExpertStats | None = None) -> list[Step]:
    """Every kernel call of one image, in order, with its cost."""
    c = design.config
    stats = stats or ExpertStats.uniform(c)
    steps = [Step("embed", "patch_embed", patch_embed(design))]
    for layer in range(c.layers):
        name = f"block {layer}"
        steps += [Step(name, "layer_norm", layer_norm(design)),
                  Step(name, "linear q/k/v", linear(design, c.dim, c.dim) * 3),
                  Step(name, "attention", attention(design)),
                  Step(name, "linear proj", linear(design, c.dim, c.dim, residual=True)),
                  Step(name, "layer_norm", layer_norm(design))]
        if layer in c.moe_layers:
            routing, experts = moe(design, stats.queues[layer])
            steps += [Step(name, "moe gate", routing), Step(name, "moe experts", experts)]
        else:
            steps += [Step(name, "linear fc1+gelu", linear(design, c.dim, c.mlp_hidden)),
                      Step(name, "linear fc2", linear(design, c.mlp_hidden, c.dim,
                                                      residual=True))]
    steps += [Step("head", "layer_norm", layer_norm(design)),
              Step("head", "copy tokens", store_features(design, c.tokens * c.dim) * 2)]
    return steps


@dataclass(frozen=True)
class Latency:
    steps: tuple[Step, ...]
    clock_hz: float

    @property
    def cycles(self) -> int:
        return sum(s.cost.cycles for s in self.steps)

    @property
    def seconds(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def fps(self) -> float:
        return 1.0 / self.seconds

    def by_kernel(self) -> dict[str, Cost]:
        totals: dict[str, Cost] = {}
        for step in self.steps:
            totals[step.kernel] = totals.get(step.kernel, Cost(0)) + step.cost
        return totals


def latency(design: Design, stats: ExpertStats | None = None,
            corrections: dict[str, float] | None = None) -> Latency:
    """One image's cycles; ``corrections`` (kernel -> factor, from synthesis reports) scale
    the model's figure for a kernel to what Vitis HLS reported for it."""
    steps = network_steps(design, stats)
    if corrections:
        steps = [Step(s.layer, s.kernel, Cost(round(s.cost.cycles * corrections.get(s.kernel, 1)),
                                              s.cost.memory)) for s in steps]
    return Latency(tuple(steps), design.clock_hz)


def per_call(design: Design, stats: ExpertStats | None = None) -> dict[str, int]:
    """Cycles of one call of each HLS function (a dim x dim linear layer, one MoE layer),
    as a synthesis report gives them."""
    c = design.config
    stats = stats or ExpertStats.uniform(c)
    calls = {"patch_embed": patch_embed(design).cycles, "layer_norm": layer_norm(design).cycles,
             "linear": linear(design, c.dim, c.dim).cycles,
             "attention": attention(design).cycles}
    if c.moe_layers:
        routing, experts = moe(design, stats.queues[c.moe_layers[0]])
        calls["moe_layer"] = routing.cycles + experts.cycles
    calls["edgemoe_top"] = latency(design, stats).cycles
    return calls


# ------------------------------------------------------------------------------ RTL units
def unit_stream_cycles(values: int, unit_latency: int) -> int:
    """A fixed-latency unit taking one value per cycle: first value in to last value out."""
    return values + unit_latency - 1


def vector_kernel_cycles(words: int, unit_latency: int, memory_latency: int = 2) -> int:
    """``vector_kernel`` from ap_start to the interrupt, from its pipeline: the start is
    taken (1), the first read is requested (2) and answered (``memory_latency``), each word
    passes the input buffer (1), a unit (``unit_latency``) and the output buffer (1), words
    then stream one a cycle (the read buffer keeps the next burst requested ahead), the last
    write response returns (``memory_latency``) and done is raised (1)."""
    if words <= 0:
        return 3
    return 1 + 2 + memory_latency + 1 + unit_latency + 1 + words + memory_latency + 1
