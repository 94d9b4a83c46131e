"""What the generated accelerator can implement: every rule the HLS templates rely on.

The rules are checked where a config is read (for every precision preset, before any
training or export), where an artifact is written and where it is loaded, so no later
stage refuses what an earlier one accepted. Each problem names the parameter and what it
must be.
"""

from __future__ import annotations

from .config import AcceleratorConfig, ConfigError, ModelConfig
from .quant import PRESET_BITS

#: A queue entry holds an expert index in 8 bits and a token index in 16.
MAX_EXPERTS = 256
MAX_TOKENS = (1 << 16) - 1
MAX_FEATURE_BITS = 32  # the feature lane of scratch and of the MAC tile's input operand
MAX_WEIGHT_BITS = 16  # the MAC tile's weight operand: one DSP48E2 per product


def design_problems(config: ModelConfig, accelerator: AcceleratorConfig, feature_bits: int,
                    weight_bits: int) -> list[str]:
    """Everything the templates cannot implement for this model, accelerator and lanes."""
    a, problems = accelerator, []
    if feature_bits > MAX_FEATURE_BITS:
        problems.append(f"features in {feature_bits}-bit lanes exceed the datapath's "
                        f"{MAX_FEATURE_BITS}")
    if weight_bits > MAX_WEIGHT_BITS:
        problems.append(f"weights in {weight_bits}-bit lanes exceed the MAC tile's "
                        f"{MAX_WEIGHT_BITS}")
    feature_lanes = a.axi_bits // feature_bits
    weight_lanes = a.axi_bits // weight_bits
    patch_inputs = 3 * config.patch * config.patch  # a row of the embedding on the tile
    for name, value in (("dim", config.dim), ("mlp_hidden", config.mlp_hidden),
                        ("expert_hidden", config.expert_hidden)):
        if value % feature_lanes:
            problems.append(f"{name} {value} is not a multiple of the {feature_lanes} "
                            f"{feature_bits}-bit features per {a.axi_bits}-bit word")
        if value % a.tile_in or value % a.tile_out:
            problems.append(f"{name} {value} is not a multiple of the linear tile "
                            f"{a.tile_in}x{a.tile_out}")
    for name, value in (("dim", config.dim), ("mlp_hidden", config.mlp_hidden),
                        ("expert_hidden", config.expert_hidden),
                        ("a patch's inputs", patch_inputs)):
        if value % weight_lanes:
            problems.append(f"{name} {value} is not a multiple of the {weight_lanes} "
                            f"{weight_bits}-bit weights per {a.axi_bits}-bit word (weight "
                            "rows stream as whole words)")
    at_once = a.heads_at_once(config.heads)
    if config.heads % at_once:
        problems.append(f"attention_heads {at_once} does not divide the {config.heads} heads")
    elif (group := at_once * config.head_dim) % feature_lanes:
        problems.append(f"a head group's {group} values are not a multiple of the "
                        f"{feature_lanes} {feature_bits}-bit features per {a.axi_bits}-bit word")
    elif at_once < config.heads and group & (group - 1):
        # K, V and the sums keep a group's values in one memory word: with the groups
        # taking turns, the word is the group index only when the group is a power of two
        problems.append(f"a head group's {group} values must be a power of two when the "
                        "head groups take turns")
    if config.head_dim % a.tile_in:
        problems.append(f"head dim {config.head_dim} is not a multiple of tile_in {a.tile_in}")
    if patch_inputs % a.tile_in:
        problems.append(f"a patch's {patch_inputs} inputs are not a multiple of tile_in "
                        f"{a.tile_in}")
    if config.experts > MAX_EXPERTS:
        problems.append(f"experts {config.experts} exceeds the {MAX_EXPERTS} a queue entry "
                        "can index")
    if config.tokens > MAX_TOKENS:
        problems.append(f"tokens {config.tokens} exceeds the {MAX_TOKENS} a queue entry can "
                        "index")
    if a.attention_parallel > config.tokens:
        problems.append(f"attention_parallel {a.attention_parallel} exceeds the "
                        f"{config.tokens} tokens")
    if (config.image_height * config.image_width * 3) % (a.axi_bits // 8):
        problems.append(f"an image of {config.image_height}x{config.image_width}x3 bytes is "
                        f"not a whole number of {a.axi_bits}-bit words")
    return problems


def check_config(config: ModelConfig, accelerator: AcceleratorConfig) -> None:
    """Refuse a config the accelerator cannot implement at some precision preset."""
    for preset, (feature_bits, weight_bits) in PRESET_BITS.items():
        problems = design_problems(config, accelerator, feature_bits, weight_bits)
        if problems:
            raise ConfigError(f"config {config.name!r} cannot be built as an accelerator "
                              f"(preset {preset}): " + "; ".join(problems))
