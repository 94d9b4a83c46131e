"""The ports of the Vitis HLS kernel interface the cosimulation drives, by their suffix:
``s_axi_control_X`` for the control port, ``m_axi_BUNDLE_X`` for each memory bundle."""

from __future__ import annotations

CONTROL_PORTS = ("AWADDR", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WVALID", "WREADY",
                 "BRESP", "BVALID", "BREADY", "ARADDR", "ARVALID", "ARREADY", "RDATA",
                 "RRESP", "RVALID", "RREADY")
MASTER_PORTS = ("AWID", "AWADDR", "AWLEN", "AWVALID", "AWREADY", "WDATA", "WSTRB", "WLAST",
                "WVALID", "WREADY", "BID", "BVALID", "BREADY", "ARID", "ARADDR", "ARLEN",
                "ARVALID", "ARREADY", "RID", "RDATA", "RLAST", "RVALID", "RREADY")
#: The inputs the harness drives: the clock, the reset, the control port's master side and
#: each bundle's memory side, whose side inputs a memory does not use are held at 0.
CONTROL_INPUTS = ("AWADDR", "AWVALID", "WDATA", "WSTRB", "WVALID", "BREADY", "ARADDR",
                  "ARVALID", "RREADY")
HELD_AT_ZERO = ("BUSER", "RUSER")
MASTER_INPUTS = ("AWREADY", "WREADY", "BID", "BRESP", "BVALID", "ARREADY", "RID", "RDATA",
                 "RRESP", "RLAST", "RVALID", *HELD_AT_ZERO)
#: What a memory serves of a bundle: the master's ports and the responses it returns.
SERVED_PORTS = (*MASTER_PORTS, "BRESP", "RRESP")
