"""Performance of the generated accelerator: the cycle and resource models of its loops
and pragmas, the design-space sweep, and Vitis HLS reports beside them."""
