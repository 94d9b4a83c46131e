"""Cycles of the generated accelerator, from the loop structure the HLS generator emits.

Each kernel of ``hls/templates/project`` is written down here as its loops: trip counts,
initiation intervals, pipeline depths, and which loops are unrolled or overlap (the linear
unit's next weight strip streaming in beside the MAC steps of the current one). DDR
traffic is counted per m_axi port, each on its own 128-bit HP port of the PS (PG201): at
most 128 bits a cycle whatever the width of the kernel's words (a 256-bit word takes two
port cycles), times a burst efficiency, plus a latency per transfer; a loop moving values
is bound by whichever of the loop and the port is slower.

MoE layers cost what the routing does: the experts a task actually activates in a layer
and the tokens each receives (``ExpertStats``, from the simulator's trace), so only the
experts loaded are counted.

Every loop is costed by its label, with the II and trip count ``loops.LOOPS`` gives it
(a test holds that table to the generated code). The figures are a model, not a
synthesis report: the pipeline depth, the latencies and the port parameters are typical
Vitis HLS values on a ZCU104, to be corrected from real reports (``csynth_report`` puts
both side by side).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from edgemoe.sim.approx import Tables
from edgemoe.sim.config import AcceleratorConfig, ModelConfig
from edgemoe.sim.kernel_interface import wide_bits
from edgemoe.sim.manifest import Manifest

from ..datapath_widths import DatapathWidths, SumWidths, datapath_widths, max_linear_inputs
from ..generator import HP_PORT_BITS, MIN_MAC_ROWS
from .loops import (
    LOOPS,
    PIPELINE_DEPTH,
    exp_latency,
    reciprocal_latency,
    rsqrt_latency,
    statistics_latency,
)

#: Which labelled loops the model has costed, while ``costed_loops`` listens.
_COSTED: ContextVar[set[str] | None] = ContextVar("costed_loops", default=None)


@dataclass(frozen=True)
class MemoryPort:
    """One m_axi port into DDR: the kernel's words of ``axi_bits`` through an HP port of
    ``hp_bits`` a cycle."""

    axi_bits: int = 256
    burst_efficiency: float = 0.85  # sustained fraction of the HP port's width in bursts
    latency: int = 64  # cycles from a request to its first word (PS DDR4 through the HP port)
    hp_bits: int = HP_PORT_BITS

    @property
    def bits_per_cycle(self) -> int:
        return min(self.axi_bits, self.hp_bits)

    def cycles(self, words: int) -> int:
        """Port cycles for ``words`` of the kernel's words in a burst."""
        return math.ceil(words * self.axi_bits / self.bits_per_cycle / self.burst_efficiency)


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
    port_cycles = port.cycles(math.ceil(values * bits / port.axi_bits))
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
    tables: Tables = field(default_factory=Tables)  # the approximations' parameters
    #: (label, II) a synthesis report gives, in place of the model's (``--csynth``)
    reported_ii: tuple[tuple[str, int], ...] = ()
    #: the multipliers' operand widths an artifact gives (None: the preset's bounds)
    widths: DatapathWidths | None = None

    @classmethod
    def of_manifest(cls, manifest: Manifest) -> Design:
        """The design an artifact's manifest describes, with its own operand widths."""
        return cls(manifest.config, manifest.accelerator, manifest.buffers.feature_bits,
                   manifest.weights.lane_bits, manifest.approximations,
                   widths=datapath_widths(manifest))

    @property
    def operand_widths(self) -> DatapathWidths:
        return self.widths or DatapathWidths.for_preset(self.config, self.feature_bits,
                                                        self.weight_bits, self.tables)

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
    def max_inputs(self) -> int:
        """The widest row the linear unit takes in (config.hpp's MAX_INPUTS)."""
        return max_linear_inputs(self.config)

    @property
    def attention_heads(self) -> int:
        """Heads side by side in attention (config.hpp's ATTENTION_HEADS)."""
        return self.accelerator.heads_at_once(self.config.heads)

    @property
    def head_groups(self) -> int:
        """The head groups that take turns with the P rows (HEAD_GROUPS)."""
        return self.config.heads // self.attention_heads

    @property
    def sum_widths(self) -> SumWidths:
        """The exact sums' accumulators (config.hpp's ``*_SUM_BITS``)."""
        return SumWidths.of(self.config, self.feature_bits, self.weight_bits)

    @property
    def max_outputs(self) -> int:
        """The widest row it gives out (MAX_OUTPUTS)."""
        c = self.config
        return max(c.dim, c.mlp_hidden, c.expert_hidden)

    @property
    def feature_block(self) -> int:
        """Values in a word of the shared feature buffers (config.hpp's FEATURE_BLOCK)."""
        a = self.accelerator
        return math.lcm(a.tile_in, a.tile_out, self.feature_lanes)

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


# ------------------------------------------------------------------------------ loops
@contextmanager
def costed_loops() -> Iterator[set[str]]:
    """The labels of the loops the model costs inside the ``with`` block."""
    labels: set[str] = set()
    token = _COSTED.set(labels)
    try:
        yield labels
    finally:
        _COSTED.reset(token)


def visit(*labels: str) -> None:
    """Loops the model costs by arithmetic (sequential loops, multiplied out)."""
    costed = _COSTED.get()
    for label in labels:
        if label not in LOOPS:
            raise KeyError(f"the cycle model names {label!r}, which is not in loops.LOOPS")
        if costed is not None:
            costed.add(label)


def loop_ii(design: Design, label: str) -> int:
    """The II of a pipelined loop: a synthesis report's, else the model's."""
    return dict(design.reported_ii).get(label) or LOOPS[label].ii(design)


def loop(design: Design, label: str, trip: int, depth: int = PIPELINE_DEPTH) -> Cost:
    """A pipelined loop of the generated code, at its II (``loop_ii``)."""
    visit(label)
    model = LOOPS[label]
    if model.kind != "pipelined":
        raise ValueError(f"{label} is {model.kind}, not pipelined")
    return Cost(pipelined(trip, loop_ii(design, label), depth))


# ------------------------------------------------------------------------------ kernels
def load_features(design: Design, count: int, label: str = "load_rows_words") -> Cost:
    """``load_rows`` of a feature map (or ``load_vector`` of an addend, in feature lanes
    too): a word of lanes a cycle, one burst."""
    visit(label)
    return transfer(count, design.feature_bits, design.port,
                    per_cycle=design.feature_lanes)


def store_features(design: Design, count: int, label: str = "store_rows_words") -> Cost:
    """``store_rows`` of a feature map (or another loop moving whole words): a word a
    cycle, one burst."""
    visit(label)
    return transfer(math.ceil(count / design.feature_lanes),
                    design.port.axi_bits, design.port)


def load_weights(design: Design, count: int, label: str = "load_vector_words") -> Cost:
    """Weights in (``load_vector``, or ``load_rows`` of a weight tensor's rows)."""
    visit(label)
    return transfer(count, design.weight_bits, design.port,
                    per_cycle=design.weight_lanes)


#: The linear unit's weight strips alternate between two m_axi bundles (``weights`` and
#: ``weights_mirror``, edgemoe.sim.kernel_interface), each on its own HP port.
WEIGHT_PORTS = 2


def port_words(design: Design, words: int) -> int:
    """Cycles for ``words`` to arrive in a stream one port fills."""
    return design.port.cycles(words)


def strip_words_cycles(design: Design, words: int) -> int:
    """Cycles for a strip of ``words`` once both weight ports stream (each has two strips'
    time for its own)."""
    return math.ceil(design.port.cycles(words) / WEIGHT_PORTS)


def linear_rows(design: Design, in_dim: int, out_dim: int, count: int) -> Cost:
    """``linear_rows``: the bias in, then the first strip of TILE_OUT weight rows (one
    port); per strip, its MAC steps (in_dim / TILE_IN steps over the rows, at least
    ``MIN_MAC_ROWS`` of them) beside the next strip's words from the other port (whichever
    is longer), then a row a cycle out of the accumulators (TILE_OUT results each)."""
    a = design.accelerator
    visit("stream_strips_strips", "stream_strips_words", "multiply_strips_strips")
    strip_words = math.ceil(a.tile_out * in_dim / design.weight_lanes)
    strips = math.ceil(out_dim / a.tile_out)
    macs = math.ceil(in_dim / a.tile_in) * max(count, MIN_MAC_ROWS)
    first = design.port.latency + loop(design, "multiply_strips_first",
                                       port_words(design, strip_words)).cycles
    # a word a cycle into the strip, as fast as the two ports deliver them
    per_strip = (loop(design, "multiply_strips_steps",
                      max(macs, strip_words, strip_words_cycles(design, strip_words)))
                 + loop(design, "multiply_strips_finish", count)).cycles
    last = (loop(design, "multiply_strips_steps", macs)
            + loop(design, "multiply_strips_finish", count)).cycles
    traffic = strip_words_cycles(design, strip_words * strips) + design.port.latency
    bias = load_features(design, out_dim, "load_vector_words")
    return bias + Cost(first + (strips - 1) * per_strip + last, traffic)


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
    visit("patch_embed_image")
    return (load_features(design, c.tokens * c.dim)  # the positions
            + transfer(image_words, design.port.axi_bits, design.port)
            + loop(design, "patch_embed_gather", c.patches * inputs)
            + linear_rows(design, inputs, c.dim, c.patches)
            + loop(design, "patch_embed_class_token", c.dim)
            + store_features(design, c.tokens * c.dim))


def layer_norm(design: Design) -> Cost:
    """gamma and beta, the feature map in one burst; per token the sums and the normalize
    sweep a word a cycle, the statistics and the rsqrt between them; one burst out."""
    c = design.config
    visit("layer_norm_tokens", "rsqrt_newton")
    words = math.ceil(c.dim / design.feature_lanes)
    per_token = (loop(design, "layer_norm_sums", words).cycles
                 + rsqrt_latency(design)
                 + statistics_latency(design)
                 + loop(design, "layer_norm_normalize", words).cycles)
    return (load_weights(design, c.dim) * 2 + load_features(design, c.tokens * c.dim)
            + Cost(per_token * c.tokens) + store_features(design, c.tokens * c.dim))


def attention(design: Design) -> Cost:
    """K and V read once per layer, a word a cycle; then per block of P query rows (one
    burst in), a row and a head group a cycle (ATTENTION_HEADS heads side by side), for
    the scores and again for A x V. A (row, head)'s softmax state comes round every
    P x HEAD_GROUPS cycles; when that is shorter than its update, the loop waits (its II is
    the update's latency over those turns). Each row is rounded a word a cycle and the
    block leaves in one burst."""
    c, p = design.config, design.accelerator.attention_parallel
    turns = p * design.head_groups
    visit("attention_blocks", "attention_row_stats", "attention_row_stats_groups",
          "attention_row_stats_heads",
          "reciprocal_newton", "attention_round")
    depth = PIPELINE_DEPTH + exp_latency(design)
    reciprocal = reciprocal_latency(design)
    total = load_features(design, c.tokens * c.dim) * 2
    for first in range(0, c.tokens, p):
        rows = min(p, c.tokens - first)
        queries = load_features(design, rows * c.dim)
        scores = loop(design, "attention_key_steps", c.tokens * turns, depth)
        stats = Cost(rows * c.heads * reciprocal)
        values = loop(design, "attention_values", c.tokens * turns, depth)
        round_rows = loop(design, "attention_round_blocks",
                          math.ceil(c.dim / design.feature_lanes)) * rows
        store = round_rows + store_features(design, rows * c.dim)
        total = total + queries + scores + stats + values + store
    return total


def gate(design: Design) -> Cost:
    """The tokens in, the residual in and shifted to the sums' precision a word a cycle,
    the task's gate in; per token all experts' logits at once (one input a cycle), then
    logits, exps, 1/sum, probabilities and ranks an expert a cycle, and its queue entries."""
    c = design.config
    visit("moe_clear_queues", "moe_route", "moe_enqueue", "reciprocal_newton")
    experts = c.experts
    per_token = (loop(design, "gate_dots", c.dim) + loop(design, "gate_logits", experts)
                 + loop(design, "gate_exp", experts) + loop(design, "gate_normalize", experts)
                 + loop(design, "top_k_experts", experts)).cycles
    per_token += reciprocal_latency(design) + c.top_k
    visit("moe_residual")
    residual = loop(design, "moe_residual_blocks", math.ceil(c.dim / design.feature_lanes))
    return (load_features(design, c.tokens * c.dim) * 2 + residual * c.tokens
            + load_weights(design, c.experts * c.dim, "load_rows_words")
            + Cost(per_token * c.tokens))


def expert_run(design: Design, tokens: int) -> Cost:
    """One expert over its queue: gather (TILE_IN values a cycle), fc1 + GELU and fc2 on the
    linear unit (weights streamed), scatter (a word of FEATURE_BLOCK values a cycle)."""
    c, a = design.config, design.accelerator
    gather = loop(design, "run_expert_gather", tokens * math.ceil(c.dim / a.tile_in))
    scatter = loop(design, "run_expert_scatter", tokens * c.dim // design.feature_block)
    return (gather + linear_rows(design, c.dim, c.expert_hidden, tokens)
            + linear_rows(design, c.expert_hidden, c.dim, tokens) + scatter)


def moe(design: Design, queues: tuple[int, ...]) -> tuple[Cost, Cost]:
    """(gate and routing, experts): every active expert in turn, then the rounding (a word
    a cycle) and one burst out."""
    c = design.config
    visit("moe_experts", "moe_round")
    experts = Cost(0)
    for tokens in queues:
        if tokens > 0:
            experts = experts + expert_run(design, tokens)
    rounding = loop(design, "moe_round_blocks", math.ceil(c.dim / design.feature_lanes))
    out = rounding * c.tokens + store_features(design, c.tokens * c.dim)
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
    visit("top_images", "top_layers")
    copy = store_features(design, c.tokens * c.dim, "top_copy_tokens") * 2
    if c.has_final_norm:
        steps.append(Step("head", "layer_norm", layer_norm(design)))
    return [*steps, Step("head", "copy tokens", copy)]


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
    """Cycles of one call of each unit that stays an HLS function, as a synthesis report's
    worst case gives them."""
    c = design.config
    stats = stats or ExpertStats.uniform(c)
    # a report's worst case for linear_rows takes every loop_tripcount at its maximum:
    # the widest layer over every token
    return {"layer_norm": layer_norm(design).cycles,
            "linear_rows": linear_rows(design, design.max_inputs, design.max_outputs,
                                       c.tokens).cycles,
            "attention": attention(design).cycles,
            "edgemoe_top": latency(design, stats).cycles}


# ------------------------------------------------------------------------------ RTL units
def unit_stream_cycles(values: int, unit_latency: int) -> int:
    """A fixed-latency unit taking one value per cycle: first value in to last value out."""
    return values + unit_latency - 1


def vector_kernel_cycles(words: int, unit_latency: int, memory_latency: int = 1) -> int:
    """``vector_kernel`` from ap_start to the interrupt, from its pipeline: the start is
    taken (1), the first read is requested (2) and answered (``memory_latency``), each word
    passes the input buffer (1), a unit (``unit_latency``) and the output buffer (1), words
    then stream one a cycle (the read buffer keeps the next burst requested ahead), the last
    write response returns (``memory_latency``) and done is raised (1). The cosimulation's
    memory answers the cycle after a request (cocotbext-axi's ``AxiRam`` takes 2)."""
    if words <= 0:
        return 3
    return 1 + 2 + memory_latency + 1 + unit_latency + 1 + words + memory_latency + 1
