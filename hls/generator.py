"""``edgemoe hls generate``: an artifact's manifest to a Vitis HLS + Vivado project.

Python builds one context (a dict) from ``manifest.json``; Jinja2 templates under
``templates/project`` show the whole shape of every output file. The approximation tables
are ``sim``'s integer tables, the formats and offsets the manifest's: nothing is derived
twice. A configuration the templates cannot implement is refused, naming the parameter,
before any file is written; the project is written to a scratch folder and renamed.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jinja2

from edgemoe.sim.approx import ExpSpec, GeluSpec, ReciprocalSpec, RsqrtSpec
from edgemoe.sim.artifact import Artifact, Manifest
from edgemoe.sim.atomic import atomic_directory
from edgemoe.sim.cycle_model import MIN_MAC_ROWS
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.fixed_format import FixedFormat
from edgemoe.sim.kernel_interface import buffer_layout, weight_bits, wide_bits
from edgemoe.sim.kernels import LayerNormSpec
from edgemoe.sim.network import block_prefix
from edgemoe.sim.weight_pack import ALIGNMENT, container_bytes

from .headers import ap_types_dir

PROJECT_TEMPLATES = Path(__file__).parent / "templates" / "project"
ZCU104_PART = "xczu7ev-ffvc1156-2-e"
ZCU104_BOARD = "xilinx.com:zcu104:part0:1.1"


class GenerateError(ValueError):
    """A configuration the HLS templates cannot implement."""


def _format(fmt: FixedFormat) -> dict[str, Any]:
    return {"width": fmt.width, "frac": fmt.frac_bits, "signed": fmt.signed,
            "rounding": fmt.rounding, "overflow": fmt.overflow, "cpp": fmt.cpp_type}


UNUSED = {"width": 1, "frac": 0, "signed": False, "rounding": "TRN", "overflow": "WRAP"}


class _Context:
    """The template context, built from one manifest."""

    def __init__(self, manifest: Manifest, artifact: Path) -> None:
        self.manifest, self.spec = manifest, manifest.spec
        self.config, self.accelerator = manifest.config, manifest.accelerator
        self.words = {name: entry.offset // ALIGNMENT for name, entry in manifest.tensors.items()}
        self.artifact = artifact

    def tensor(self, name: str) -> dict[str, Any]:
        return {"word": self.words[name], "format": _format(self.spec.fmt(name))}

    def layer_norm(self, prefix: str, weights: str) -> dict[str, Any]:
        spec: LayerNormSpec = self.spec.layer_norm(prefix)
        eps = FixedArray.from_float(spec.eps, spec.var_fmt).raw
        return {"gamma": self.tensor(f"{weights}.weight"), "beta": self.tensor(f"{weights}.bias"),
                "mean": _format(spec.mean_fmt), "var": _format(spec.var_fmt),
                "inv_std": _format(spec.rsqrt.output_fmt),
                "normalized": _format(spec.normalized_fmt), "out": _format(spec.out_fmt),
                "eps": int(eps)}

    def softmax(self, prefix: str) -> dict[str, Any]:
        return {part: _format(self.spec.fmt(f"{prefix}.{part}"))
                for part in ("diff", "exp", "sum", "inv_sum", "prob")}

    def block(self, layer: int) -> dict[str, Any]:
        p, fmt = block_prefix(layer), self.spec.fmt
        moe = layer in self.config.moe_layers
        mlp = p + ("moe." if moe else "mlp.")
        unused_tensor = {"word": 0, "format": UNUSED}
        block = {
            "moe": moe,
            "norm1": self.layer_norm(p + "norm1", p + "norm1"),
            "norm2": self.layer_norm(p + "norm2", p + "norm2"),
            "softmax": self.softmax(p + "softmax"),
            "fc1_weight": self.tensor(mlp + "fc1.weight"),
            "fc1_bias": self.tensor(mlp + "fc1.bias"),
            "fc2_weight": self.tensor(mlp + "fc2.weight"),
            "fc2_bias": self.tensor(mlp + "fc2.bias"),
            "gate": self.tensor(p + "moe.gate.weight") if moe else unused_tensor,
            "gate_logits": _format(fmt(p + "gate_logits")) if moe else UNUSED,
            "expert_out": _format(fmt(p + "expert_out")) if moe else UNUSED,
            "gate_softmax": self.softmax(p + "gate") if moe else dict.fromkeys(
                ("diff", "exp", "sum", "inv_sum", "prob"), UNUSED),
        }
        for name in ("q", "k", "v", "proj"):
            block[f"{name}_weight"] = self.tensor(p + f"attn.{name}.weight")
            block[f"{name}_bias"] = self.tensor(p + f"attn.{name}.bias")
        for name in ("q", "k", "v", "scores", "attn", "residual1", "fc1", "hidden", "out"):
            block[name] = _format(fmt(p + name))
        return block

    def taps(self) -> tuple[list[dict[str, Any]], int, int]:
        """Scratch layout (``sim.kernel_interface``): taps, words, feature lane bits."""
        layout = buffer_layout(self.config, self.spec, self.accelerator.axi_bits)
        taps = [{"name": t.name, "word": t.word, "elements": t.elements,
                 "bytes": container_bytes(t.format), "format": _format(t.format)}
                for t in layout.taps]
        return taps, layout.scratch_words, layout.feature_bits

    def build(self) -> dict[str, Any]:
        manifest, spec, c = self.manifest, self.spec, self.config
        approx = manifest.data["approximations"]
        taps, scratch_words, feature_bits = self.taps()
        weights = weight_bits(spec, manifest.tensors)
        by_name = {t["name"]: t["word"] for t in taps}
        block_taps = [{name: by_name.get(block_prefix(layer) + name, 0)
                       for name in ("norm1", "q", "k", "v", "scores", "attn", "residual1",
                                    "norm2", "hidden", "gate_probs", "out")}
                      for layer in range(c.layers)]
        exp = ExpSpec(spec.fmt("blocks.0.softmax.diff"), spec.fmt("blocks.0.softmax.exp"),
                      **approx["exp"])
        reciprocal = ReciprocalSpec(spec.fmt("blocks.0.softmax.sum"),
                                    spec.fmt("blocks.0.softmax.inv_sum"), **approx["reciprocal"])
        rsqrt = RsqrtSpec(spec.fmt("norm.var"), spec.fmt("norm.inv_std"), **approx["rsqrt"])
        gelu = GeluSpec(spec.fmt("blocks.0.fc1"), spec.fmt("blocks.0.hidden"), **approx["gelu"])
        norm = LayerNormSpec(spec.fmt("norm.mean"), rsqrt, spec.fmt("norm.normalized"),
                             spec.fmt("norm"))
        return {
            "artifact": str(self.artifact),
            "name": manifest.data.get("name", c.name),
            "config": c, "accelerator": self.accelerator, "approx": approx,
            "feature_bits": feature_bits, "weight_bits": weights,
            "wide_bits": wide_bits(feature_bits), "min_mac_rows": MIN_MAC_ROWS,
            "exp_log2e": exp.log2e_raw, "exp_table": exp.table().tolist(),
            "reciprocal_table": reciprocal.table().tolist(),
            "rsqrt_table": rsqrt.table().tolist(), "gelu_table": gelu.table().tolist(),
            "inv_dim_bits": norm.inv_dim_bits, "inv_dim": round(2**norm.inv_dim_bits / c.dim),
            "embed": {"weight": self.tensor("patch_embed.weight"),
                      "bias": self.tensor("patch_embed.bias"),
                      "position": self.tensor("embed.position"),
                      "pixels": _format(spec.fmt("pixels")), "out": _format(spec.fmt("embed"))},
            "final_norm": self.layer_norm("norm", "norm"),
            "blocks": [self.block(layer) for layer in range(c.layers)],
            "taps": taps, "scratch_words": scratch_words, "block_taps": block_taps,
            "embed_tap": by_name["embed"], "norm_tap": by_name["norm"],
            "kernel_name": manifest.data["kernel"]["name"],
            "kernel_arguments": [_argument(a) for a in manifest.data["kernel"]["arguments"]],
            "part": ZCU104_PART, "board": ZCU104_BOARD,
            "clock_mhz": self.accelerator.clock_mhz,
            "sources": sorted(f"src/{p.stem}" if p.suffix == ".j2" else f"src/{p.name}"
                              for p in (PROJECT_TEMPLATES / "src").iterdir()),
            "hls_project": "hls_project", "vivado_project": "edgemoe_bd",
            "bitstream_name": "edgemoe",
            "hp_ports": self.hp_ports(), "ap_types": str(ap_types_dir()),
        }

    def hp_ports(self) -> list[tuple[str, str]]:
        """Each m_axi bundle on its own high-performance port (HP0, HP1, ...)."""
        bundles = sorted({a["bundle"] for a in self.manifest.data["kernel"]["arguments"]
                          if a["kind"] == "pointer"})
        return [(bundle, f"S_AXI_HP{index}_FPD") for index, bundle in enumerate(bundles)]


READ_ONLY = ("weights", "images")


def _argument(argument: dict[str, Any]) -> dict[str, Any]:
    """A kernel argument with its C++ type: pointers to AXI words, or 32-bit scalars."""
    if argument["kind"] == "pointer":
        cpp = "const edgemoe::word_t *" if argument["name"] in READ_ONLY else "edgemoe::word_t *"
    else:
        cpp = "unsigned "
    return {**argument, "cpp": cpp}


def check_parameters(manifest: Manifest) -> None:
    """Refuse, naming the parameter, what the templates cannot implement."""
    c, a = manifest.config, manifest.accelerator
    problems = []
    taps, _, feature_bits = _Context(manifest, Path(".")).taps()
    activations = [t["format"]["width"] for t in taps]
    lanes = a.axi_bits // feature_bits
    if a.axi_bits % feature_bits:
        problems.append(f"axi_bits {a.axi_bits} is not a multiple of the {feature_bits}-bit "
                        "feature container")
    for name, value in (("dim", c.dim), ("mlp_hidden", c.mlp_hidden),
                        ("expert_hidden", c.expert_hidden)):
        if value % lanes:
            problems.append(f"{name} {value} is not a multiple of the {lanes} features per "
                            f"{a.axi_bits}-bit word")
        if value % a.tile_in or value % a.tile_out:
            problems.append(f"{name} {value} is not a multiple of the linear tile "
                            f"{a.tile_in}x{a.tile_out}")
    if c.head_dim % a.tile_in:
        problems.append(f"head dim {c.head_dim} is not a multiple of tile_in {a.tile_in}")
    weights = {manifest.tensors[n].nbytes // max(1, _elements(manifest, n)) for n in
               manifest.tensors}
    patch_inputs = 3 * c.patch * c.patch  # a row of the embedding layer on the tile
    if patch_inputs % a.tile_in:
        problems.append(f"a patch's {patch_inputs} inputs are not a multiple of tile_in "
                        f"{a.tile_in}")
    weight_lanes = a.axi_bits // (8 * max(weights))
    for name, value in (("dim", c.dim), ("mlp_hidden", c.mlp_hidden),
                        ("expert_hidden", c.expert_hidden), ("a patch's inputs", patch_inputs)):
        if value % weight_lanes:
            problems.append(f"{name} {value} is not a multiple of the {weight_lanes} weights "
                            f"per {a.axi_bits}-bit word (weight rows stream as whole words)")
    if c.experts > 256:
        problems.append(f"experts {c.experts} exceeds the 256 a queue entry can index")
    if c.tokens >= 1 << 16:
        problems.append(f"tokens {c.tokens} exceeds the 16-bit token index of the queues")
    if a.attention_parallel > c.tokens:
        problems.append(f"attention_parallel {a.attention_parallel} exceeds the "
                        f"{c.tokens} tokens")
    if feature_bits > 32:
        problems.append(f"values {max(activations)} bits wide exceed the 32-bit feature "
                        "container")
    if len(weights) != 1:
        problems.append("weights.bin mixes container sizes; the loader reads one")
    if (c.image_height * c.image_width * 3) % (a.axi_bits // 8):
        problems.append(f"an image of {c.image_height}x{c.image_width}x3 bytes is not a whole "
                        f"number of {a.axi_bits}-bit words")
    if problems:
        raise GenerateError("cannot generate HLS for this artifact: " + "; ".join(problems))


def _elements(manifest: Manifest, name: str) -> int:
    count = 1
    for size in manifest.tensors[name].shape:
        count *= size
    return count


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PROJECT_TEMPLATES),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def generate(artifact: str | Path, out_dir: str | Path) -> Path:
    """Write the HLS project for ``artifact`` to ``out_dir`` (replacing an old one whole)."""
    artifact, out_dir = Path(artifact), Path(out_dir)
    manifest = Artifact(artifact).manifest
    check_parameters(manifest)
    context = _Context(manifest, artifact.resolve()).build()
    env = _environment()
    with atomic_directory(out_dir) as scratch:
        for template in sorted(PROJECT_TEMPLATES.rglob("*")):
            if template.is_dir():
                continue
            relative = template.relative_to(PROJECT_TEMPLATES)
            target = scratch / (relative.with_suffix("") if template.suffix == ".j2" else relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            if template.suffix == ".j2":
                target.write_text(env.get_template(relative.as_posix()).render(**context))
            else:  # the same for every artifact
                shutil.copyfile(template, target)
    return out_dir
