"""Cycles of the generated accelerator, from the loop structure the HLS generator emits.

Each kernel of ``hls/templates/project`` is written down here as its loops: trip counts,
initiation intervals, pipeline depths, and which loops are unrolled or overlap (the linear
unit's next weight strip streaming in beside the MAC steps of the current one). DDR
traffic is counted per m_axi port: a 256-bit word per cycle at most, times a burst
efficiency, plus a latency per transfer; a loop moving values is bound by whichever of the
loop and the port is slower.

MoE layers cost what the routing does: the experts a task actually activates in a layer
and the tokens each receives (``ExpertStats``, from the simulator's trace), so only the
experts loaded are counted.

The figures are a model, not a synthesis report: ``PIPELINE_DEPTH`` and the port
parameters are typical Vitis HLS values on a ZCU104, to be corrected from real reports
(``hls/csynth_report.py`` puts both side by side).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgemoe.sim.config import AcceleratorConfig, ModelConfig
from edgemoe.sim.kernel_interface import wide_bits

from ..generator import MIN_MAC_ROWS

#: Stages of a pipelined loop body (a multiply-accumulate, a requantize): its fill time.
PIPELINE_DEPTH = 8
#: Cycles of the approximation units HLS builds from the same integer recipes as the RTL.
EXP_LATENCY, RECIPROCAL_LATENCY, RSQRT_LATENCY = 6, 7, 8
#: One softmax update: compare, exp, rescale (a product and its rounding), add.
SOFTMAX_UPDATE_LATENCY = EXP_LATENCY + 4
#: LayerNorm's statistics between its sweeps: mean, mean of squares, variance (products
#: and roundings in sequence).
STATISTICS_LATENCY = 6


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

    @property
    def port(self) -> MemoryPort:
        """Every m_axi port is as wide as the accelerator's AXI words."""
        return MemoryPort(axi_bits=self.accelerator.axi_bits)

    @property
    def clock_hz(self) -> float:
        return self.accelerator.clock_mhz * 1e6

    @property
    def wide_bits(self) -> int:
        return wide_bits(self.feature_bits)

    @property
    def feature_lanes(self) -> int:
        return self.port.axi_bits // self.feature_bits

    @property
    def weight_lanes(self) -> int:
        return self.port.axi_bits // self.weight_bits


@dataclass(frozen=True)
class Step:
    """One kernel call: which layer, which kernel, its cost."""

    layer: str
    kernel: str
    cost: Cost


# ------------------------------------------------------------------------------ kernels
def load_features(design: Design, count: int) -> Cost:
    """``load_features``: a word of lanes a cycle, one burst."""
    return transfer(count, design.feature_bits, design.port,
                    per_cycle=design.feature_lanes)


def store_features(design: Design, count: int) -> Cost:
    return transfer(math.ceil(count / design.feature_lanes),
                    design.port.axi_bits, design.port)


def load_weights(design: Design, count: int) -> Cost:
    return transfer(count, design.weight_bits, design.port,
                    per_cycle=design.weight_lanes)


def port_words(design: Design, words: int) -> int:
    """Cycles for ``words`` to arrive in a stream the port fills."""
    return math.ceil(words / design.port.burst_efficiency)


def linear_rows(design: Design, in_dim: int, out_dim: int, count: int) -> Cost:
    """``linear_rows``: the bias in, then the first strip of TILE_OUT weight rows; per strip,
    its MAC steps (in_dim / TILE_IN steps over the rows, at least ``MIN_MAC_ROWS`` of them)
    beside the next strip's words (whichever is longer), then a row a cycle out of the
    accumulators (TILE_OUT results each)."""
    a = design.accelerator
    strip_words = math.ceil(a.tile_out * in_dim / design.weight_lanes)
    strips = math.ceil(out_dim / a.tile_out)
    macs = math.ceil(in_dim / a.tile_in) * max(count, MIN_MAC_ROWS)
    first = design.port.latency + pipelined(port_words(design, strip_words))
    per_strip = (pipelined(max(macs, port_words(design, strip_words)))
                 + pipelined(count))
    last = pipelined(macs) + pipelined(count)
    traffic = port_words(design, strip_words * strips) + design.port.latency
    return load_weights(design, out_dim) + Cost(first + (strips - 1) * per_strip + last,
                                                traffic)


def linear(design: Design, in_dim: int, out_dim: int, residual: bool = False) -> Cost:
    """``linear`` over DDR feature maps: every row on chip in one burst (and the residual's),
    through ``linear_rows``, and out in one burst."""
    tokens = design.config.tokens
    read = load_features(design, tokens * in_dim)
    if residual:
        read = read + load_features(design, tokens * out_dim)
    return (read + linear_rows(design, in_dim, out_dim, tokens)
            + store_features(design, tokens * out_dim))


def patch_embed(design: Design) -> Cost:
    """The positions and the image in, every patch's pixels gathered a value a cycle, the
    embedding as a linear layer over the patches (positions as the residual), the CLS
    token, the tokens out."""
    c = design.config
    inputs = c.patch * c.patch * 3
    image_words = math.ceil(c.image_height * c.image_width * 3 * 8 / design.port.axi_bits)
    return (load_weights(design, c.tokens * c.dim)
            + transfer(image_words, design.port.axi_bits, design.port)
            + Cost(pipelined(c.patches * inputs))
            + linear_rows(design, inputs, c.dim, c.patches)
            + Cost(pipelined(c.dim)) + store_features(design, c.tokens * c.dim))


def layer_norm(design: Design) -> Cost:
    """gamma and beta, the feature map in one burst; per token the sums and the normalize
    sweep a word a cycle, the statistics and the rsqrt between them; one burst out."""
    c = design.config
    words = math.ceil(c.dim / design.feature_lanes)
    per_token = pipelined(words) + RSQRT_LATENCY + STATISTICS_LATENCY + pipelined(words)
    return (load_weights(design, c.dim) * 2 + load_features(design, c.tokens * c.dim)
            + Cost(per_token * c.tokens) + store_features(design, c.tokens * c.dim))


def attention(design: Design) -> Cost:
    """K and V read once per layer, a word a cycle; then per block of P query rows (one
    burst in), a row a cycle with all its heads side by side, for the scores and again for
    A x V. A row's softmax state comes round every P cycles; when that is shorter than its
    update, the loop waits (an initiation interval above 1). The block leaves in one
    burst."""
    c, p = design.config, design.accelerator.attention_parallel
    ii = max(1, math.ceil(SOFTMAX_UPDATE_LATENCY / p))
    depth = PIPELINE_DEPTH + EXP_LATENCY
    total = load_features(design, c.tokens * c.dim) * 2
    for first in range(0, c.tokens, p):
        rows = min(p, c.tokens - first)
        queries = load_features(design, rows * c.dim)
        scores = Cost(pipelined(c.tokens * p, ii=ii, depth=depth))
        stats = Cost(rows * c.heads * RECIPROCAL_LATENCY)
        values = Cost(pipelined(c.tokens * p, depth=depth))
        words = math.ceil(rows * c.dim / design.feature_lanes)
        store = Cost(pipelined(words)) + store_features(design, rows * c.dim)
        total = total + queries + scores + stats + values + store
    return total


def gate(design: Design) -> Cost:
    """The normed rows and the residual in; per token all experts' logits at once (one input
    a cycle), then logits, exps, 1/sum, probabilities and ranks an expert a cycle."""
    c = design.config
    per_token = (pipelined(c.dim) + 4 * pipelined(c.experts) + RECIPROCAL_LATENCY
                 + c.top_k)
    words = math.ceil(c.tokens * c.dim / design.feature_lanes)
    return (load_features(design, c.tokens * c.dim) * 2 + Cost(pipelined(words))
            + load_weights(design, c.experts * c.dim) + Cost(per_token * c.tokens))


def expert_run(design: Design, tokens: int) -> Cost:
    """One expert over its queue: gather (TILE_IN values a cycle), fc1 + GELU and fc2 on the
    linear unit (weights streamed), scatter (TILE_OUT values a cycle)."""
    c, a = design.config, design.accelerator
    gather = Cost(pipelined(tokens * math.ceil(c.dim / a.tile_in)))
    scatter = Cost(pipelined(tokens * math.ceil(c.dim / a.tile_out)))
    return (gather + linear_rows(design, c.dim, c.expert_hidden, tokens)
            + linear_rows(design, c.expert_hidden, c.dim, tokens) + scatter)


def moe(design: Design, queues: tuple[int, ...]) -> tuple[Cost, Cost]:
    """(gate and routing, experts): every active expert in turn, then the rounding (a word
    a cycle) and one burst out."""
    c = design.config
    experts = Cost(0)
    for tokens in queues:
        if tokens > 0:
            experts = experts + expert_run(design, tokens)
    words = math.ceil(c.tokens * c.dim / design.feature_lanes)
    out = Cost(pipelined(words)) + store_features(design, c.tokens * c.dim)
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
