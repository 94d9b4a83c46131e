// random_master: a stand-in kernel for the cosimulation's memory. Its m_axi_gmem master
// writes BURSTS random bursts (1 to 256 beats, random WSTRB, W beats sometimes ahead of
// their AW), then reads each back and checks every byte, RID, BID and RLAST against a
// shadow copy, with random VALID gaps and READY stalls (STALL: 1 holds AW back, 2 holds W
// back, 3 holds BREADY and RREADY low for a while). START_OFFSET > 0 starts every other burst
// that many bytes past a bus-width boundary: AXI4 INCR then serves the beats from the
// boundary, and bursts of both kinds overlap.
// It prints "random_master: N errors" and finishes. The control port is unused.
`default_nettype none

module random_master #(
    parameter DATA_BITS = 64,
    parameter ADDR_BITS = 64,
    parameter ID_BITS = 1,
    parameter STALL = 0,
    parameter START_OFFSET = 0,
    parameter [63:0] BASE = 64'h8_0000_0000,
    parameter SPAN = 65536,  // bytes from BASE the bursts stay in
    parameter BURSTS = 40
) (
    input  wire ap_clk,
    input  wire ap_rst_n,
    output wire interrupt,
    input  wire [5:0] s_axi_control_AWADDR, input wire s_axi_control_AWVALID,
    output wire s_axi_control_AWREADY,
    input  wire [31:0] s_axi_control_WDATA, input wire [3:0] s_axi_control_WSTRB,
    input  wire s_axi_control_WVALID, output wire s_axi_control_WREADY,
    output wire [1:0] s_axi_control_BRESP, output wire s_axi_control_BVALID,
    input  wire s_axi_control_BREADY,
    input  wire [5:0] s_axi_control_ARADDR, input wire s_axi_control_ARVALID,
    output wire s_axi_control_ARREADY,
    output wire [31:0] s_axi_control_RDATA, output wire [1:0] s_axi_control_RRESP,
    output wire s_axi_control_RVALID, input wire s_axi_control_RREADY,
    output reg  [ID_BITS-1:0] m_axi_gmem_AWID, output reg [ADDR_BITS-1:0] m_axi_gmem_AWADDR,
    output reg  [7:0] m_axi_gmem_AWLEN, output wire [2:0] m_axi_gmem_AWSIZE,
    output wire [1:0] m_axi_gmem_AWBURST, output reg m_axi_gmem_AWVALID,
    input  wire m_axi_gmem_AWREADY,
    output reg  [DATA_BITS-1:0] m_axi_gmem_WDATA, output reg [DATA_BITS/8-1:0] m_axi_gmem_WSTRB,
    output reg  m_axi_gmem_WLAST, output reg m_axi_gmem_WVALID, input wire m_axi_gmem_WREADY,
    input  wire [ID_BITS-1:0] m_axi_gmem_BID, input wire [1:0] m_axi_gmem_BRESP,
    input  wire m_axi_gmem_BVALID, output reg m_axi_gmem_BREADY,
    output reg  [ID_BITS-1:0] m_axi_gmem_ARID, output reg [ADDR_BITS-1:0] m_axi_gmem_ARADDR,
    output reg  [7:0] m_axi_gmem_ARLEN, output wire [2:0] m_axi_gmem_ARSIZE,
    output wire [1:0] m_axi_gmem_ARBURST, output reg m_axi_gmem_ARVALID,
    input  wire m_axi_gmem_ARREADY,
    input  wire [ID_BITS-1:0] m_axi_gmem_RID, input wire [DATA_BITS-1:0] m_axi_gmem_RDATA,
    input  wire [1:0] m_axi_gmem_RRESP, input wire m_axi_gmem_RLAST,
    input  wire m_axi_gmem_RVALID, output reg m_axi_gmem_RREADY
);
    localparam BYTES = DATA_BITS / 8;
    assign interrupt = 1'b0;
    assign s_axi_control_AWREADY = 1'b0; assign s_axi_control_WREADY = 1'b0;
    assign s_axi_control_BRESP = 2'b00; assign s_axi_control_BVALID = 1'b0;
    assign s_axi_control_ARREADY = 1'b0; assign s_axi_control_RDATA = 32'd0;
    assign s_axi_control_RRESP = 2'b00; assign s_axi_control_RVALID = 1'b0;
    assign m_axi_gmem_AWSIZE = $clog2(BYTES); assign m_axi_gmem_ARSIZE = $clog2(BYTES);
    assign m_axi_gmem_AWBURST = 2'b01; assign m_axi_gmem_ARBURST = 2'b01;

    reg [7:0] shadow [0:SPAN-1];
    reg [7:0] length [0:BURSTS-1];
    reg [63:0] start [0:BURSTS-1];  // bytes from BASE
    integer index, lane, errors, cycle, at;
    integer aw_burst, w_burst, w_beat, b_burst, ar_burst, r_burst, r_beat;

    initial begin
        errors = 0; cycle = 0;
        aw_burst = 0; w_burst = 0; w_beat = 0; b_burst = 0; ar_burst = 0; r_burst = 0;
        r_beat = 0;
        for (index = 0; index < SPAN; index = index + 1) shadow[index] = 8'd0;
        for (index = 0; index < BURSTS; index = index + 1) begin
            length[index] = $urandom % 5 == 0 ? 8'($urandom % 256) : 8'($urandom % 8);
            start[index] = 64'(($urandom % (SPAN / BYTES - 257)) * BYTES
                               + (index % 2 == 1 ? START_OFFSET : 0));
        end
        m_axi_gmem_AWVALID = 0; m_axi_gmem_WVALID = 0; m_axi_gmem_WLAST = 0;
        m_axi_gmem_BREADY = 0; m_axi_gmem_ARVALID = 0; m_axi_gmem_RREADY = 0;
    end

    // the byte lane `lane` of beat `beat` of burst `burst`, from BASE (AXI4 INCR)
    function integer byte_of(input integer burst, input integer beat, input integer lane);
        byte_of = 32'(start[burst] & ~64'(BYTES - 1)) + beat * BYTES + lane;
    endfunction

    always @(posedge ap_clk) if (ap_rst_n) begin
        cycle = cycle + 1;
        // write addresses
        if (m_axi_gmem_AWVALID && m_axi_gmem_AWREADY) begin
            m_axi_gmem_AWVALID <= 1'b0;
            aw_burst = aw_burst + 1;
        end else if (!m_axi_gmem_AWVALID && aw_burst < BURSTS && (STALL != 1 || cycle > 300)
                     && $urandom % 3 != 0) begin
            m_axi_gmem_AWVALID <= 1'b1;
            m_axi_gmem_AWADDR <= ADDR_BITS'(BASE + start[aw_burst]);
            m_axi_gmem_AWLEN <= length[aw_burst];
            m_axi_gmem_AWID <= ID_BITS'(aw_burst);
        end
        // write data: remembered in the shadow as the memory takes it
        if (m_axi_gmem_WVALID && m_axi_gmem_WREADY) begin
            for (lane = 0; lane < BYTES; lane = lane + 1)
                if (m_axi_gmem_WSTRB[lane] && !(w_beat == 0 && lane < start[w_burst] % BYTES))
                    shadow[byte_of(w_burst, w_beat, lane)] = m_axi_gmem_WDATA[8 * lane +: 8];
            if (w_beat == length[w_burst]) begin w_beat = 0; w_burst = w_burst + 1; end
            else w_beat = w_beat + 1;
            m_axi_gmem_WVALID <= 1'b0;
        end else if (!m_axi_gmem_WVALID && w_burst < BURSTS && (STALL != 2 || cycle > 300)
                     && $urandom % 4 != 0) begin
            m_axi_gmem_WVALID <= 1'b1;
            for (lane = 0; lane < BYTES; lane = lane + 1) begin
                m_axi_gmem_WDATA[8 * lane +: 8] <= 8'($urandom);
                // lanes below an unaligned start are not the burst's: never strobed
                m_axi_gmem_WSTRB[lane] <= $urandom % 3 != 0
                    && !(w_beat == 0 && lane < start[w_burst] % BYTES);
            end
            m_axi_gmem_WLAST <= w_beat == length[w_burst];
        end
        // write responses
        if (m_axi_gmem_BVALID && m_axi_gmem_BREADY) begin
            if (m_axi_gmem_BID != ID_BITS'(b_burst)) begin
                errors = errors + 1;
                $display("BID %0d, expected %0d", m_axi_gmem_BID, ID_BITS'(b_burst));
            end
            b_burst = b_burst + 1;
        end
        m_axi_gmem_BREADY <= (STALL == 3 && cycle < 600) ? 1'b0 : $urandom % 3 != 0;
        // reads, once every write is acknowledged
        if (m_axi_gmem_ARVALID && m_axi_gmem_ARREADY) begin
            m_axi_gmem_ARVALID <= 1'b0;
            ar_burst = ar_burst + 1;
        end else if (!m_axi_gmem_ARVALID && b_burst == BURSTS && ar_burst < BURSTS
                     && $urandom % 3 != 0) begin
            m_axi_gmem_ARVALID <= 1'b1;
            m_axi_gmem_ARADDR <= ADDR_BITS'(BASE + start[ar_burst]);
            m_axi_gmem_ARLEN <= length[ar_burst];
            m_axi_gmem_ARID <= ID_BITS'(ar_burst);
        end
        if (m_axi_gmem_RVALID && m_axi_gmem_RREADY) begin
            for (lane = 0; lane < BYTES; lane = lane + 1) begin
                at = byte_of(r_burst, r_beat, lane);
                if (!(r_beat == 0 && lane < start[r_burst] % BYTES)
                        && m_axi_gmem_RDATA[8 * lane +: 8] != shadow[at]) begin
                    if (errors < 5)
                        $display("burst %0d beat %0d lane %0d: read %h, wrote %h", r_burst,
                                 r_beat, lane, m_axi_gmem_RDATA[8 * lane +: 8], shadow[at]);
                    errors = errors + 1;
                end
            end
            if (m_axi_gmem_RID != ID_BITS'(r_burst)) errors = errors + 1;
            if (m_axi_gmem_RLAST != (r_beat == length[r_burst])) errors = errors + 1;
            if (r_beat == length[r_burst]) begin r_beat = 0; r_burst = r_burst + 1; end
            else r_beat = r_beat + 1;
        end
        m_axi_gmem_RREADY <= (STALL == 3 && cycle < 2000) ? 1'b0 : $urandom % 3 != 0;
        if (r_burst == BURSTS || cycle > 200000) begin
            if (r_burst != BURSTS) errors = errors + 1;
            $display("random_master: %0d errors in %0d cycles", errors, cycle);
            $finish;
        end
    end
endmodule

`default_nettype wire
