"""``edgemoe hls generate``: an artifact's manifest to a Vitis HLS + Vivado project.

Python builds one context (a dict) from the manifest's resolved fields; Jinja2 templates
under ``templates/project`` show the whole shape of every output file. The approximation
tables are ``sim``'s integer tables, the formats, offsets, layout and kernel interface the
manifest's: nothing is derived twice. Loading the artifact has already refused a design the
templates cannot implement (``sim.hardware_rules``) and any string that is not a validated
identifier; the project is written to a scratch folder and moved into place.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import shutil
from pathlib import Path
from typing import Any

import jinja2

from edgemoe.sim.artifact import Artifact
from edgemoe.sim.config import AcceleratorConfig
from edgemoe.sim.fixed_array import FixedArray
from edgemoe.sim.fixed_format import FixedFormat
from edgemoe.sim.identifiers import safe_path
from edgemoe.sim.kernel_interface import Argument
from edgemoe.sim.kernels import LayerNormSpec
from edgemoe.sim.manifest import Manifest
from edgemoe.sim.network import block_prefix, tokens_name
from edgemoe.sim.output_folder import output_folder

from .csim import NATIVE_ARITHMETIC
from .datapath_widths import SumWidths, datapath_widths
from .headers import ap_types_dir

PROJECT_TEMPLATES = Path(__file__).parent / "templates" / "project"
ZCU104_PART = "xczu7ev-ffvc1156-2-e"
ZCU104_BOARD = "xilinx.com:zcu104:part0:1.1"
#: Rows the linear unit's MAC loop cycles through at least, so that a row's accumulators
#: are back from the adder before the row comes round again (fewer rows are padded).
MIN_MAC_ROWS = 8


def _format(fmt: FixedFormat) -> dict[str, Any]:
    return {"width": fmt.width, "frac": fmt.frac_bits, "signed": fmt.signed,
            "rounding": fmt.rounding, "overflow": fmt.overflow, "cpp": fmt.cpp_type}


UNUSED = {"width": 1, "frac": 0, "signed": False, "rounding": "TRN", "overflow": "WRAP"}


class _Context:
    """The template context, built from one manifest's resolved fields."""

    def __init__(self, manifest: Manifest, artifact: Path, manifest_sha256: str) -> None:
        self.manifest, self.spec = manifest, manifest.spec
        self.config, self.accelerator = manifest.config, manifest.accelerator
        self.artifact, self.manifest_sha256 = artifact, manifest_sha256

    def tensor(self, name: str) -> dict[str, Any]:
        entry = self.manifest.tensors[name]
        return {"word": entry.word, "format": _format(entry.format)}

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

    def build(self) -> dict[str, Any]:
        manifest, spec, c = self.manifest, self.spec, self.config
        buffers, tables = manifest.buffers, manifest.approximations
        images = manifest.vectors.images.shape[0]
        taps = [{"name": t.name, "word": t.word, "elements": t.elements,
                 "bytes": t.container_bytes, "format": _format(t.format),
                 "golden_bytes": images * t.elements * t.container_bytes}
                for t in buffers.taps]
        by_name = {t.name: t.word for t in buffers.taps}
        block_taps = [{name: by_name.get(block_prefix(layer) + name, 0)
                       for name in ("norm1", "q", "k", "v", "scores", "attn", "residual1",
                                    "norm2", "hidden", "gate_probs", "out")}
                      for layer in range(c.layers)]
        # One table per function: every site shares the tables' parameters.
        exp = spec.softmax("blocks.0.softmax").exp
        reciprocal = spec.softmax("blocks.0.softmax").reciprocal
        norm = spec.layer_norm(block_prefix(0) + "norm1")
        gelu = spec.gelu(block_prefix(0))
        kernel = manifest.kernel
        return {
            "artifact": safe_path(str(self.artifact), "the artifact's path"),
            # the sources name the artifact by content, so one artifact's sources are the
            # same text wherever they are generated (and compile once, cached by content)
            "manifest_sha256": self.manifest_sha256,
            "name": manifest.name,
            "config": c, "accelerator": self.accelerator, "approx": tables,
            "feature_bits": buffers.feature_bits, "weight_bits": manifest.weights.lane_bits,
            "wide_bits": buffers.wide_bits, "min_mac_rows": MIN_MAC_ROWS,
            "attention_heads": self.accelerator.heads_at_once(c.heads),
            "native_arithmetic": NATIVE_ARITHMETIC,
            "sum_bits": SumWidths.of(c, buffers.feature_bits, manifest.weights.lane_bits),
            "feature_block": math.lcm(self.accelerator.tile_in, self.accelerator.tile_out,
                                      self.accelerator.axi_bits // buffers.feature_bits),
            "exp_log2e": exp.log2e_raw, "exp_table": exp.table().tolist(),
            "reciprocal_table": reciprocal.table().tolist(),
            "rsqrt_table": norm.rsqrt.table().tolist(), "gelu_table": gelu.table().tolist(),
            "inv_dim_bits": norm.inv_dim_bits, "inv_dim": round(2**norm.inv_dim_bits / c.dim),
            "operand_bits": operand_bits(manifest, exp.table().tolist(),
                                         gelu.table().tolist()),
            "embed": {"weight": self.tensor("patch_embed.weight"),
                      "bias": self.tensor("patch_embed.bias"),
                      "position": self.tensor("embed.position"),
                      "pixels": _format(spec.fmt("pixels")), "out": _format(spec.fmt("embed"))},
            "final_norm": (self.layer_norm("norm", "norm") if c.has_final_norm else None),
            "blocks": [self.block(layer) for layer in range(c.layers)],
            "taps": taps, "scratch_words": buffers.scratch_words, "block_taps": block_taps,
            "embed_tap": by_name["embed"], "tokens_tap": by_name[tokens_name(c)],
            "vector_images": images, "weights_bytes": manifest.weights.bytes,
            "kernel_name": kernel.name,
            "kernel_arguments": [_argument(a) for a in kernel.arguments],
            "part": ZCU104_PART, "board": ZCU104_BOARD,
            "clock_mhz": self.accelerator.clock_mhz,
            "sources": sorted(f"src/{p.stem}" if p.suffix == ".j2" else f"src/{p.name}"
                              for p in (PROJECT_TEMPLATES / "src").iterdir()),
            "hls_project": "hls_project", "vivado_project": "edgemoe_bd",
            "bitstream_name": "edgemoe",
            "hp_ports": hp_ports(kernel.bundles),
            "ap_types": safe_path(str(ap_types_dir()), "the ap_types headers' folder"),
        }


def operand_bits(manifest: Manifest, exp_table: list[int], gelu_table: list[int]
                 ) -> dict[str, int]:
    """config.hpp's multiplier operand widths: the artifact's bounds, and the largest step
    between neighbouring entries of the interpolated tables."""
    def step_bits(table: list[int]) -> int:
        return max(abs(a - b) for a, b in itertools.pairwise(table)).bit_length() + 1

    bounds = dataclasses.asdict(datapath_widths(manifest))
    return {**{f"{name.upper()}_BITS": bits for name, bits in bounds.items()},
            "EXP_STEP_BITS": step_bits(exp_table), "GELU_STEP_DIFF_BITS": step_bits(gelu_table)}


READ_ONLY = ("weights", "images", "weights_mirror")
#: The Zynq UltraScale+ PS's high-performance slave ports (PG201): S_AXI_HPn_FPD is the
#: PS's slave GP port n + 2, 128 bits wide on the ZCU104 designs.
HP_PORTS = 4
HP_PORT_BITS = 128


def hp_ports(bundles: list[str]) -> list[dict[str, Any]]:
    """One HP port per m_axi bundle, in order."""
    if len(bundles) > HP_PORTS:
        raise ValueError(f"{len(bundles)} m_axi bundles, but the PS has {HP_PORTS} HP ports")
    return [{"bundle": bundle, "port": f"S_AXI_HP{index}_FPD", "gp": index + 2,
             "bits": HP_PORT_BITS} for index, bundle in enumerate(bundles)]


def _argument(argument: Argument) -> dict[str, Any]:
    """A kernel argument with its C++ type: pointers to AXI words, or 32-bit scalars."""
    if argument.kind == "pointer":
        cpp = "const edgemoe::word_t *" if argument.name in READ_ONLY else "edgemoe::word_t *"
    else:
        cpp = "unsigned "
    return {**argument.model_dump(), "cpp": cpp}


def _environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.FileSystemLoader(PROJECT_TEMPLATES),
                              undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                              trim_blocks=True, lstrip_blocks=True)


def generate(artifact: str | Path, out_dir: str | Path, force: bool = False,
             accelerator: AcceleratorConfig | None = None) -> Path:
    """Write the HLS project for ``artifact`` to ``out_dir``: the generated files replace
    the ones generated before, and nothing else there is touched (``hls_project/``,
    ``bitstream/``, a user's notes); a foreign non-empty folder needs ``force``.

    ``accelerator`` builds another design point for the same model and weights (a sweep);
    another attention parallelism visits keys in another order, so such a project is for
    synthesis, not for C simulation against the artifact's golden vectors."""
    artifact, out_dir = Path(artifact), Path(out_dir)
    loaded = Artifact(artifact)
    manifest = loaded.manifest
    if accelerator is not None:
        manifest = manifest.with_accelerator(accelerator)
    context = _Context(manifest, artifact.resolve(), loaded.manifest_sha256).build()
    env = _environment()
    with output_folder(out_dir, "hls generate", force, forceable=True) as scratch:
        for template in sorted(PROJECT_TEMPLATES.rglob("*")):
            if template.is_dir() or template.name.startswith("_"):  # _*.j2: imported
                continue
            relative = template.relative_to(PROJECT_TEMPLATES)
            target = scratch / (relative.with_suffix("") if template.suffix == ".j2" else relative)
            target.parent.mkdir(parents=True, exist_ok=True)
            if template.suffix == ".j2":
                target.write_text(env.get_template(relative.as_posix()).render(**context))
            else:  # the same for every artifact
                shutil.copyfile(template, target)
    return out_dir
