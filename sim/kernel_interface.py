"""The accelerator's top-function interface: its arguments and their AXI4-Lite registers.

Vitis HLS lays out an ``s_axilite`` control block as: 0x00 control (ap_start, ap_done,
ap_idle, ap_ready, auto_restart), 0x04 global interrupt enable, 0x08 IP interrupt enable,
0x0C IP interrupt status, then the arguments from 0x10 in declaration order, each padded
to a 32-bit word boundary with one reserved word after it: a 64-bit address takes two
data words (low, high) and a 32-bit scalar one. The HLS generator declares the arguments
in this order, and the driver programs these offsets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

KERNEL_NAME = "edgemoe_top"
CONTROL = {"ap_ctrl": 0x00, "gie": 0x04, "ier": 0x08, "isr": 0x0C}
FIRST_ARGUMENT = 0x10


@dataclass(frozen=True)
class Argument:
    name: str
    kind: str  # "pointer" (m_axi, 64-bit address) or "scalar" (32-bit)
    bundle: str | None  # m_axi bundle of a pointer
    description: str


ARGUMENTS = (
    Argument("weights", "pointer", "gmem_weights", "weights.bin, read only"),
    Argument("images", "pointer", "gmem_features", "input images, uint8 H x W x 3 each"),
    Argument("tokens", "pointer", "gmem_features", "output tokens, raw words per image"),
    Argument("scratch", "pointer", "gmem_features", "feature maps between layers"),
    Argument("task", "scalar", None, "task index: selects the MoE gates, nothing else"),
    Argument("num_images", "scalar", None, "images to process in this call"),
    Argument("debug", "scalar", None, "nonzero: also write scores and gate probabilities "
             "to scratch (the debug tap)"),
)


def register_map(arguments: tuple[Argument, ...] = ARGUMENTS) -> list[dict]:
    """Each argument with its register offset (and width in 32-bit words)."""
    offset, out = FIRST_ARGUMENT, []
    for argument in arguments:
        words = 2 if argument.kind == "pointer" else 1
        out.append({**asdict(argument), "offset": offset, "words": words})
        offset += 4 * (words + 1)  # the data words, then one reserved word
    return out
