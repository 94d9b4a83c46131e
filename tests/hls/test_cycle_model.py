"""The cycle and resource models grow as the generated loops say they must."""

from __future__ import annotations

import dataclasses
import re

import pytest

from edgemoe.hls.perf.cycle_model import (
    Design,
    ExpertStats,
    attention,
    latency,
    linear,
    linear_rows,
    pipelined,
)
from edgemoe.hls.perf.dse import EDGE_MOE_POINT, evaluate, pareto, sweep
from edgemoe.hls.perf.resource_model import dsp_per_multiplier, multipliers, resources
from edgemoe.sim.config import AcceleratorConfig
from edgemoe.sim.config_file import load_model_config


@pytest.fixture
def design() -> Design:
    return Design(load_model_config("m3vit-s"), AcceleratorConfig())


def test_a_pipelined_loop_costs_trip_times_ii_plus_its_depth() -> None:
    assert pipelined(100, ii=1, depth=8) == 107
    assert pipelined(100, ii=2, depth=8) == 206
    assert pipelined(0) == 0


def test_attention_grows_quadratically_with_tokens(design: Design) -> None:
    def cycles(width: int) -> int:
        config = dataclasses.replace(design.config, image_width=width)
        return attention(dataclasses.replace(design, config=config)).cycles
    width = design.config.image_width
    one, two, four = cycles(width), cycles(2 * width), cycles(4 * width)
    # scores and A x V are T x T: doubling the tokens heads towards four times the cycles,
    # the linear parts (loading K and V, queries, stores) less so as T grows
    assert 2.5 < two / one < four / two < 4.0


def test_moe_costs_the_experts_it_loads(design: Design) -> None:
    config = design.config
    half = config.tokens * config.top_k // 2
    two = ExpertStats({m: (half, half) for m in config.moe_layers})
    two_of_all = ExpertStats({m: (half, half) + (0,) * (config.experts - 2)
                              for m in config.moe_layers})
    every = ExpertStats.uniform(config)
    assert two_of_all.active(config.moe_layers[0]) == 2
    assert every.active(config.moe_layers[0]) == config.experts

    def experts(stats: ExpertStats) -> int:
        return latency(design, stats).by_kernel()["moe experts"].cycles
    # an expert no token chose is never loaded; the same tokens spread over every expert
    # stream sixteen experts' weights instead of two: fourteen more, a word a cycle at best
    words = 2 * config.dim * config.expert_hidden * design.weight_bits // design.port.axi_bits
    assert experts(two_of_all) == experts(two)
    assert experts(every) > experts(two) + (config.experts - 2) * words


def test_a_linear_layer_costs_the_larger_of_its_macs_and_its_weight_words(
        design: Design) -> None:
    config, tile = design.config, design.accelerator.tile_in * design.accelerator.tile_out
    weights = config.dim * config.mlp_hidden
    words = weights * design.weight_bits // design.port.axi_bits
    many = linear_rows(design, config.dim, config.mlp_hidden, config.tokens).cycles
    few = linear_rows(design, config.dim, config.mlp_hidden, 2).cycles
    # every row meets every weight in TILE_IN x TILE_OUT MACs a cycle, while the next strip
    # streams in beside them: within 15% of the MAC bound when the rows are many ...
    assert weights * config.tokens / tile <= many < 1.15 * weights * config.tokens / tile
    # ... and bound by the weight words when they are few, at the HP port's 128 bits a cycle
    # on each of the two weight ports
    port_cycles = design.port.cycles(words)
    assert port_cycles == pytest.approx(words * 2 / design.port.burst_efficiency, abs=1)
    assert port_cycles / 2 <= few < 1.3 * port_cycles / 2


def test_a_larger_tile_makes_linear_layers_faster(design: Design) -> None:
    def cycles(tile: int) -> int:
        accelerator = dataclasses.replace(design.accelerator, tile_in=tile, tile_out=tile)
        return linear(dataclasses.replace(design, accelerator=accelerator),
                      design.config.dim, design.config.mlp_hidden).cycles
    assert cycles(4) > cycles(8) > cycles(16)


def test_a_16x16_tile_of_16_bit_macs_takes_256_dsps(design: Design) -> None:
    assert dsp_per_multiplier(16, 16) == 1
    assert dsp_per_multiplier(32, 16) == 2  # 32 bits need two 27-bit slices
    count, per = multipliers(design)["linear tile"]
    assert count * per == 256
    wide = dataclasses.replace(design, feature_bits=32)
    count, per = multipliers(wide)["linear tile"]
    assert count * per == 512
    assert resources(wide).dsp > resources(design).dsp


def test_the_sweep_has_the_edge_moe_point_and_a_consistent_front() -> None:
    config = load_model_config("tiny")
    points = sweep(config, parallel=(2, 4), tiles=((8, 8), (16, 16)), clocks=(300.0,))
    assert any(p.matches(EDGE_MOE_POINT) for p in points)
    front = pareto(points)
    assert front and all(p.fits for p in front)
    dsps = [p.resources.dsp for p in front]
    fps = [p.fps for p in front]
    assert dsps == sorted(dsps) and fps == sorted(fps)
    faster = evaluate(config, 4, (16, 16), "int16", 300.0)
    slower = evaluate(config, 4, (16, 16), "int16", 200.0)
    assert faster.seconds == pytest.approx(slower.seconds * 200 / 300)


def test_the_resource_model_binds_memories_as_the_generated_pragmas_do(
        design: Design) -> None:
    from edgemoe.hls.generator import PROJECT_TEMPLATES
    from edgemoe.hls.perf.resource_model import arrays

    sources = "".join(p.read_text() for p in (PROJECT_TEMPLATES / "src").glob("*.cpp*"))
    pragmas = re.findall(r"#pragma HLS bind_storage variable = \w+ type = \w+ impl = (\w+)",
                         sources)
    modelled = [array.impl for array in arrays(design) if array.impl != "auto"]
    assert sorted(pragmas) == sorted(modelled)
    assert {"uram", "lutram"} <= set(pragmas)


def test_weights_stream_at_two_hp_ports_whatever_the_word(design: Design) -> None:
    """The weight strips come through two 128-bit HP ports taking turns: the memory-bound
    expert layers move the same bits a cycle at 256- and 512-bit words, while 128-bit words
    are held to a word a cycle by the strip loop (half of what the two ports give)."""
    def at(axi_bits: int) -> Design:
        return dataclasses.replace(design, accelerator=dataclasses.replace(
            design.accelerator, axi_bits=axi_bits))
    narrow, wide, wider = (latency(at(bits)).by_kernel()["moe experts"]
                           for bits in (128, 256, 512))
    assert narrow.memory == wide.memory == wider.memory
    assert wide.bound == wider.bound == "memory"
    assert max(wide.cycles, wider.cycles) < 1.02 * min(wide.cycles, wider.cycles)
    assert narrow.cycles > 1.3 * wide.cycles
    assert [at(bits).weight_lanes for bits in (128, 256, 512)] == [8, 16, 32]


def test_head_groups_trade_multipliers_for_turns(design: Design) -> None:
    """A head at a time: a third of attention's multipliers and narrower K and V memories,
    and the head groups take turns with the P rows, so a (row, head)'s softmax update has
    three times as long and the key loop's II falls."""
    from edgemoe.hls.perf.loops import key_step_ii

    one = dataclasses.replace(design, accelerator=dataclasses.replace(
        design.accelerator, attention_heads=1))
    heads = design.config.heads
    assert (one.attention_heads, one.head_groups) == (1, heads)
    for site in ("attention q.k", "attention p.v"):
        assert multipliers(one)[site][0] * heads == multipliers(design)[site][0]
    assert resources(one).bram36 < resources(design).bram36
    assert key_step_ii(one) < key_step_ii(design)
    assert attention(design).cycles < attention(one).cycles < heads * attention(design).cycles


def test_both_presets_fit_within_80_percent_at_their_best_points() -> None:
    """The issue's targets, on the honest model: m3vit-s int16 at most 16 ms a frame, and
    the edge-moe preset (32-bit features) fits, each with every resource at most 80%."""
    config = load_model_config("m3vit-s")
    int16 = evaluate(config, 32, (32, 16), "int16", 300.0)
    edge_moe = evaluate(config, 16, (16, 16), "edge-moe", 300.0, heads=1)
    for point in (int16, edge_moe):
        assert max(point.resources.utilization().values()) <= 0.8, point.resources
    assert int16.seconds <= 16e-3
    # every head side by side, the edge-moe preset's attention alone needs 1,536 DSPs
    assert not evaluate(config, 16, (16, 16), "edge-moe", 300.0).fits
