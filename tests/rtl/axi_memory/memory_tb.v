// memory_tb: the cosimulation wrapper around random_master, clocked and reset; the control
// port idle, the memory neither loaded nor dumped (it starts zeroed).
`default_nettype none

module memory_tb;
    reg clock = 1'b0, reset_n = 1'b0;
    wire fault;
    wire [63:0] fault_address;
    always #5 clock = ~clock;
    initial #100 reset_n = 1'b1;

    edgemoe_cosim_top harness (
        .ap_clk(clock), .ap_rst_n(reset_n), .interrupt(),
        .s_axi_control_AWADDR(6'd0), .s_axi_control_AWVALID(1'b0), .s_axi_control_AWREADY(),
        .s_axi_control_WDATA(32'd0), .s_axi_control_WSTRB(4'd0), .s_axi_control_WVALID(1'b0),
        .s_axi_control_WREADY(), .s_axi_control_BRESP(), .s_axi_control_BVALID(),
        .s_axi_control_BREADY(1'b0), .s_axi_control_ARADDR(6'd0), .s_axi_control_ARVALID(1'b0),
        .s_axi_control_ARREADY(), .s_axi_control_RDATA(), .s_axi_control_RRESP(),
        .s_axi_control_RVALID(), .s_axi_control_RREADY(1'b0),
        .memory_load(1'b0), .memory_dump(1'b0), .memory_dump_first(64'd0),
        .memory_dump_last(64'd0), .memory_fault(fault), .memory_fault_address(fault_address));

    reg reported = 1'b0;
    always @(posedge clock) if (fault && !reported) begin
        reported = 1'b1;
        $display("memory_tb: fault at %h", fault_address);
    end
endmodule

`default_nettype wire
