// What a Vitis HLS dataflow design includes under translate_off: simulation-only checks
// that wait on the design's signals (here, for the reset to be released).
initial begin
    wait (ap_rst_n == 1'b1);
end
