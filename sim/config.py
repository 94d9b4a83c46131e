"""Model configurations: the shape of the network is the shape of the accelerator.

A config is data (``configs/*.yaml``, or any YAML/JSON file with the same keys, read by
``config_file``): the ``model`` and ``accelerator`` sections are these classes, the
``training`` section is read by ``edgemoe.model``. It lives in
``sim`` because every part needs it (the simulator, the HLS generator, the cycle model,
the driver) and ``sim`` is the one package they all may import.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from . import identifiers
from .tasks import TASKS

KNOWN_TASKS = tuple(TASKS)  # segmentation, human_parts, saliency, normals, edges, depth
DEFAULT_TASKS = ("segmentation", "depth")
DEFAULT_LAYER_NORM_EPS = 1e-5  # torch's nn.LayerNorm default
MAX_LAYER_NORM_EPS = 0.1
#: Where the backbone's last LayerNorm sits: one for every task (ours), one per task (the
#: official M3ViT, where each task's head starts with its own), or none (Edge-MoE's kernel
#: ends after the last block).
FINAL_NORMS = ("shared", "per-task", "none")
#: How a MoE layer weights its top-k experts: by their softmax probabilities over all
#: experts (M3ViT's noisy_vmoe gate at inference), or renormalized over the k chosen ones
#: (the GShard-style noisy gate: a softmax over the k largest logits).
GATES = ("softmax-all", "renormalized-top-k")
#: Per-channel statistics a [0, 1] image is normalized with before the patch embedding
#: (folded into its weights at export). Ours by default; ImageNet's for M3ViT's NYUD-v2
#: and PASCAL-Context models; none (0 and 1) for its CityScapes ones.
DEFAULT_IMAGE_MEAN = (0.45, 0.45, 0.45)
DEFAULT_IMAGE_STD = (0.25, 0.25, 0.25)
MAX_IMAGE_STATISTIC = 10.0
#: The task heads on the ARM cores: our light transposed-convolution ones (depth predicted
#: in log space), or M3ViT's official VisionTransformerUpHead (depth predicted in metres).
TASK_HEADS = ("upsampling", "official")
AXI_BITS = (128, 256, 512)
#: The largest value of each size a config may give (far beyond any ViT an FPGA runs, and
#: small enough that checking a hostile one takes no time).
MODEL_LIMITS = {"image_height": 4096, "image_width": 4096, "patch": 64, "dim": 4096,
                "heads": 64, "layers": 64, "experts": 256, "top_k": 256,
                "expert_hidden": 16384, "mlp_hidden": 16384, "classes": 1024}
MIN_CLOCK_MHZ, MAX_CLOCK_MHZ = 10.0, 800.0  # the PL clocks a ZCU104 design can run at


class ConfigError(ValueError):
    """A configuration that cannot describe a model."""


@dataclass(frozen=True)
class ModelConfig:
    """An M3ViT: a ViT whose odd layers are mixture-of-experts with one gate per task."""

    name: str
    image_height: int
    image_width: int
    patch: int
    dim: int
    heads: int
    layers: int
    experts: int
    top_k: int
    expert_hidden: int
    mlp_hidden: int
    classes: int
    tasks: tuple[str, ...] = DEFAULT_TASKS
    #: added to the variance in every LayerNorm (1e-6 in M3ViT's and Edge-MoE's models)
    layer_norm_eps: float = DEFAULT_LAYER_NORM_EPS
    final_norm: str = "shared"  # one of FINAL_NORMS
    gate: str = "softmax-all"  # one of GATES
    task_head: str = "upsampling"  # one of TASK_HEADS
    image_mean: tuple[float, float, float] = DEFAULT_IMAGE_MEAN
    image_std: tuple[float, float, float] = DEFAULT_IMAGE_STD

    def __post_init__(self) -> None:
        object.__setattr__(self, "tasks", tuple(self.tasks))
        for field, low in (("image_mean", -MAX_IMAGE_STATISTIC), ("image_std", 0.0)):
            values = getattr(self, field)
            if (not isinstance(values, (list, tuple)) or len(values) != 3
                    or any(isinstance(v, bool) or not isinstance(v, (int, float))
                           or not math.isfinite(v) or not low < v <= MAX_IMAGE_STATISTIC
                           for v in values)):
                raise ConfigError(f"config {self.name!r}: {field} must be 3 numbers in "
                                  f"({low:g}, {MAX_IMAGE_STATISTIC:g}] (red, green, blue), "
                                  f"got {values!r}")
            object.__setattr__(self, field, tuple(float(v) for v in values))
        try:
            identifiers.name(self.name)
        except identifiers.IdentifierError as err:
            raise ConfigError(f"config name: {err}") from None
        for field in dataclasses.fields(self):
            value, most = getattr(self, field.name), MODEL_LIMITS.get(field.name)
            if most is not None and (not isinstance(value, int) or isinstance(value, bool)
                                     or not 1 <= value <= most):
                raise ConfigError(f"config {self.name!r}: {field.name} must be an integer "
                                  f"from 1 to {most}, got {value!r}")
        eps = self.layer_norm_eps
        if (isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps)
                or not 0 < eps <= MAX_LAYER_NORM_EPS):
            raise ConfigError(f"config {self.name!r}: layer_norm_eps must be a number in "
                              f"(0, {MAX_LAYER_NORM_EPS:g}], got {eps!r}")
        object.__setattr__(self, "layer_norm_eps", float(eps))
        for field, choices in (("final_norm", FINAL_NORMS), ("gate", GATES),
                               ("task_head", TASK_HEADS)):
            if getattr(self, field) not in choices:
                raise ConfigError(f"config {self.name!r}: {field} must be one of "
                                  f"{list(choices)}, got {getattr(self, field)!r}")
        problems = []
        if self.image_height % self.patch or self.image_width % self.patch:
            problems.append(f"image {self.image_height}x{self.image_width} is not divisible "
                            f"by the patch size {self.patch}")
        if self.dim % self.heads:
            problems.append(f"dim {self.dim} is not divisible by heads {self.heads}")
        if self.top_k > self.experts:
            problems.append(f"top_k {self.top_k} is more than the {self.experts} experts")
        unknown = [t for t in self.tasks if t not in KNOWN_TASKS]
        if unknown or not self.tasks or len(set(self.tasks)) != len(self.tasks):
            problems.append(f"tasks {list(self.tasks)} must be distinct names from "
                            f"{list(KNOWN_TASKS)}")
        if problems:
            raise ConfigError(f"config {self.name!r}: " + "; ".join(problems))

    @property
    def grid(self) -> tuple[int, int]:
        """Patches per column and per row."""
        return self.image_height // self.patch, self.image_width // self.patch

    @property
    def patches(self) -> int:
        return self.grid[0] * self.grid[1]

    @property
    def tokens(self) -> int:
        """Patches plus the CLS token."""
        return self.patches + 1

    def outputs(self, task: str) -> int:
        """The channels of a task's head."""
        return TASKS[task].channels(self.classes)

    @property
    def has_final_norm(self) -> bool:
        return self.final_norm != "none"

    @property
    def renormalizes_top_k(self) -> bool:
        """Whether the gate weighs its top-k by a softmax over their logits alone."""
        return self.gate == "renormalized-top-k"

    @property
    def log_depth(self) -> bool:
        """Whether the depth head predicts log(depth / scale) (ours) or metres (official)."""
        return self.task_head == "upsampling"

    @property
    def head_dim(self) -> int:
        return self.dim // self.heads

    @property
    def moe_layers(self) -> tuple[int, ...]:
        """Layers whose MLP is a mixture of experts: the odd ones."""
        return tuple(range(1, self.layers, 2))

    def task_index(self, task: str) -> int:
        if task not in self.tasks:
            raise ConfigError(f"unknown task {task!r}; config {self.name!r} has tasks "
                              f"{list(self.tasks)}")
        return self.tasks.index(task)

    def chosen_tasks(self, chosen: Sequence[str]) -> list[str]:
        """The tasks a user chose (each known, none twice), or every task when none."""
        repeated = sorted({task for task in chosen if list(chosen).count(task) > 1})
        if repeated:
            raise ConfigError(f"--task {', '.join(repeated)} given more than once")
        for task in chosen:
            self.task_index(task)
        return list(chosen) or list(self.tasks)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["tasks"] = list(self.tasks)
        data["image_mean"], data["image_std"] = list(self.image_mean), list(self.image_std)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"model config: a mapping of keys, got {type(data).__name__}")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - names)
        missing = sorted(f.name for f in dataclasses.fields(cls)
                         if f.name not in data and f.default is dataclasses.MISSING)
        if unknown or missing:
            raise ConfigError(f"model config: unknown keys {unknown}, missing keys {missing}")
        return cls(**data)


@dataclass(frozen=True)
class AcceleratorConfig:
    """The accelerator's own parameters (the ``accelerator`` section of a config)."""

    attention_parallel: int = 4  # P: query rows on chip at a time
    #: heads computed side by side in attention (None: all); the head groups take turns
    attention_heads: int | None = None
    tile_in: int = 16  # the linear unit's IN x OUT multipliers
    tile_out: int = 16
    clock_mhz: float = 300.0
    axi_bits: int = 256  # the width of every m_axi port and of the DDR layout's words

    def __post_init__(self) -> None:
        for name in ("attention_parallel", "tile_in", "tile_out"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 256:
                raise ConfigError(f"accelerator: {name} must be an integer from 1 to 256, "
                                  f"got {value!r}")
        heads = self.attention_heads
        if heads is not None and (not isinstance(heads, int) or isinstance(heads, bool)
                                  or not 1 <= heads <= 256):
            raise ConfigError(f"accelerator: attention_heads must be an integer from 1 to 256 "
                              f"or absent (every head), got {heads!r}")
        if self.axi_bits not in AXI_BITS or isinstance(self.axi_bits, bool):
            raise ConfigError(f"accelerator: axi_bits must be one of {list(AXI_BITS)}, got "
                              f"{self.axi_bits!r}")
        clock = self.clock_mhz
        if (isinstance(clock, bool) or not isinstance(clock, (int, float))
                or not MIN_CLOCK_MHZ <= clock <= MAX_CLOCK_MHZ):  # nan compares false
            raise ConfigError(f"accelerator: clock_mhz must be a number from "
                              f"{MIN_CLOCK_MHZ:g} to {MAX_CLOCK_MHZ:g}, got {clock!r}")
        object.__setattr__(self, "clock_mhz", float(clock))

    def heads_at_once(self, heads: int) -> int:
        """The heads attention computes side by side, for a model of ``heads``."""
        return self.attention_heads or heads

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AcceleratorConfig:
        if not isinstance(data, dict):
            raise ConfigError(f"accelerator config: a mapping of keys, got "
                              f"{type(data).__name__}")
        unknown = sorted(set(data) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise ConfigError(f"accelerator config: unknown keys {unknown}")
        return cls(**data)
