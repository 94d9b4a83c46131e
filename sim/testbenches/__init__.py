"""cocotb testbenches of the generated Verilog, checked against ``edgemoe.sim`` bit for bit.

They run inside a simulator process started by ``edgemoe.hls.rtl.cocotb_run`` and need
cocotb (the ``rtl`` extra); nothing else in ``sim`` imports them, so ``sim`` stays
importable on the board.
"""
