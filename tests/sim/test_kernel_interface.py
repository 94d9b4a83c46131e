"""The kernel's registers as Vitis HLS lays them out, checked against a listing written by
hand from the documented rule (UG1399, s_axilite: control at 0x00-0x0C, arguments from
0x10 in declaration order, a 64-bit pointer as two 32-bit data registers ``NAME_1`` (low)
and ``NAME_2`` (high), one reserved word after each argument), not by our own writer."""

from __future__ import annotations

from edgemoe.sim.identifiers import RESERVED
from edgemoe.sim.kernel_interface import kernel_interface

# As a Vitis HLS export of `void edgemoe_top(const word_t *weights, const word_t *images,
# word_t *tokens, word_t *scratch, unsigned task_index, unsigned num_images, unsigned
# debug, const word_t *weights_mirror)` lists them in its .hwh (and, as
# XEDGEMOE_TOP_CONTROL_ADDR_*, in its _hw.h).
VITIS_REGISTERS = """
0x00 CTRL
0x04 GIER
0x08 IP_IER
0x0c IP_ISR
0x10 weights_1
0x14 weights_2
0x1c images_1
0x20 images_2
0x28 tokens_1
0x2c tokens_2
0x34 scratch_1
0x38 scratch_2
0x40 task_index
0x48 num_images
0x50 debug
0x58 weights_mirror_1
0x5c weights_mirror_2
"""


def test_registers_are_the_ones_vitis_hls_writes() -> None:
    expected = [(int(offset, 16), name) for offset, name in
                (line.split() for line in VITIS_REGISTERS.strip().splitlines())]
    got = [(register.offset, register.name) for register in kernel_interface(None).registers()]
    assert got == expected


def test_no_argument_is_a_word_an_hdl_reserves() -> None:
    """Vitis HLS renames such a port (``task`` becomes ``task_r``): none of ours is one."""
    assert not [a.name for a in kernel_interface(None).arguments if a.name.lower() in RESERVED]
