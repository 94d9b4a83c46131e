// A kernel written the way Vitis HLS exports one, to test the cosimulation harness on
// what a real export contains (tests/rtl/test_vitis_export.py): an `initial #0` in the
// reset logic, a 2-bit AWLOCK/ARLOCK and every AXI side signal, the dataflow deadlock
// detector's `include under translate_off (with a `wait`), a ROM read by $readmemh from
// "./fixture_top_table.dat", and the register map comment Vitis writes, which says how
// the interrupt status register clears (ISR_CLEAR_ON_READ selects the behaviour).
// It computes dst[i] = src[i] + table[src[i] & 255] for i < count, 32-bit words, one
// single-beat read and write at a time.
//------------------------Address Info-------------------
// 0x00 : Control signals
//        bit 0  - ap_start (Read/Write/COH)
//        bit 1  - ap_done (Read/COR)
//        bit 2  - ap_idle (Read)
//        bit 3  - ap_ready (Read/COR)
//        others - reserved
// 0x04 : Global Interrupt Enable Register
//        bit 0  - Global Interrupt Enable (Read/Write)
// 0x08 : IP Interrupt Enable Register (Read/Write)
//        bit 0  - enable ap_done interrupt (Read/Write)
// 0x0c : IP Interrupt Status Register (Read/TOW)
//        bit 0  - ap_done (Read/TOW)
// 0x10 : Data signal of src
// 0x14 : Data signal of src
// 0x1c : Data signal of dst
// 0x20 : Data signal of dst
// 0x28 : Data signal of count
`timescale 1 ns / 1 ps

module fixture_top #(parameter ISR_CLEAR_ON_READ = 0) (
    input  wire        ap_clk,
    input  wire        ap_rst_n,
    output wire        interrupt,
    input  wire [5:0]  s_axi_control_AWADDR,
    input  wire        s_axi_control_AWVALID,
    output wire        s_axi_control_AWREADY,
    input  wire [31:0] s_axi_control_WDATA,
    input  wire [3:0]  s_axi_control_WSTRB,
    input  wire        s_axi_control_WVALID,
    output wire        s_axi_control_WREADY,
    output wire [1:0]  s_axi_control_BRESP,
    output reg         s_axi_control_BVALID,
    input  wire        s_axi_control_BREADY,
    input  wire [5:0]  s_axi_control_ARADDR,
    input  wire        s_axi_control_ARVALID,
    output wire        s_axi_control_ARREADY,
    output reg  [31:0] s_axi_control_RDATA,
    output wire [1:0]  s_axi_control_RRESP,
    output reg         s_axi_control_RVALID,
    input  wire        s_axi_control_RREADY,
    output wire [0:0]  m_axi_gmem_AWID,
    output reg  [63:0] m_axi_gmem_AWADDR,
    output wire [7:0]  m_axi_gmem_AWLEN,
    output wire [2:0]  m_axi_gmem_AWSIZE,
    output wire [1:0]  m_axi_gmem_AWBURST,
    output wire [1:0]  m_axi_gmem_AWLOCK,
    output wire [3:0]  m_axi_gmem_AWCACHE,
    output wire [2:0]  m_axi_gmem_AWPROT,
    output wire [3:0]  m_axi_gmem_AWQOS,
    output wire [3:0]  m_axi_gmem_AWREGION,
    output wire [0:0]  m_axi_gmem_AWUSER,
    output reg         m_axi_gmem_AWVALID,
    input  wire        m_axi_gmem_AWREADY,
    output reg  [31:0] m_axi_gmem_WDATA,
    output wire [3:0]  m_axi_gmem_WSTRB,
    output wire        m_axi_gmem_WLAST,
    output wire [0:0]  m_axi_gmem_WID,
    output wire [0:0]  m_axi_gmem_WUSER,
    output reg         m_axi_gmem_WVALID,
    input  wire        m_axi_gmem_WREADY,
    input  wire [0:0]  m_axi_gmem_BID,
    input  wire [1:0]  m_axi_gmem_BRESP,
    input  wire [0:0]  m_axi_gmem_BUSER,
    input  wire        m_axi_gmem_BVALID,
    output wire        m_axi_gmem_BREADY,
    output wire [0:0]  m_axi_gmem_ARID,
    output reg  [63:0] m_axi_gmem_ARADDR,
    output wire [7:0]  m_axi_gmem_ARLEN,
    output wire [2:0]  m_axi_gmem_ARSIZE,
    output wire [1:0]  m_axi_gmem_ARBURST,
    output wire [1:0]  m_axi_gmem_ARLOCK,
    output wire [3:0]  m_axi_gmem_ARCACHE,
    output wire [2:0]  m_axi_gmem_ARPROT,
    output wire [3:0]  m_axi_gmem_ARQOS,
    output wire [3:0]  m_axi_gmem_ARREGION,
    output wire [0:0]  m_axi_gmem_ARUSER,
    output reg         m_axi_gmem_ARVALID,
    input  wire        m_axi_gmem_ARREADY,
    input  wire [0:0]  m_axi_gmem_RID,
    input  wire [31:0] m_axi_gmem_RDATA,
    input  wire [1:0]  m_axi_gmem_RRESP,
    input  wire        m_axi_gmem_RLAST,
    input  wire [0:0]  m_axi_gmem_RUSER,
    input  wire        m_axi_gmem_RVALID,
    output wire        m_axi_gmem_RREADY
);
    localparam IDLE = 3'd0, READ = 3'd1, TAKE = 3'd2, WRITE = 3'd3, RESPONSE = 3'd4;

    reg [2:0] state;
    initial begin
        #0 state = IDLE;  // as Vitis writes its FSM's reset value
    end

    reg [31:0] table_rom [0:255];
    initial $readmemh("./fixture_top_table.dat", table_rom);

    // synthesis translate_off
    `include "fixture_top_hls_deadlock_detector.vh"
    // synthesis translate_on

    // ---------------------------------------------------------------- control registers
    reg        gie, ier, isr, done, ready;
    reg [63:0] src, dst;
    reg [31:0] count, index;
    wire       idle = state == IDLE;
    wire       finish = (state == RESPONSE && m_axi_gmem_BVALID && index + 1 == count)
                        || (idle && start && count == 0);
    wire       start_write = s_axi_control_AWVALID && s_axi_control_WVALID
                             && !s_axi_control_BVALID;
    reg        start;
    assign s_axi_control_AWREADY = start_write;
    assign s_axi_control_WREADY = start_write;
    assign s_axi_control_BRESP = 2'b00;
    assign s_axi_control_ARREADY = !s_axi_control_RVALID;
    assign s_axi_control_RRESP = 2'b00;
    assign interrupt = gie && isr;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            {gie, ier, isr, done, ready, start} <= 6'b0;
            s_axi_control_BVALID <= 1'b0;
            s_axi_control_RVALID <= 1'b0;
        end else begin
            if (idle && start) start <= 1'b0;
            if (start_write) begin
                s_axi_control_BVALID <= 1'b1;
                case (s_axi_control_AWADDR)
                    6'h00: if (s_axi_control_WDATA[0]) start <= 1'b1;
                    6'h04: gie <= s_axi_control_WDATA[0];
                    6'h08: ier <= s_axi_control_WDATA[0];
                    6'h0c: if (!ISR_CLEAR_ON_READ) isr <= isr ^ s_axi_control_WDATA[0];
                    6'h10: src[31:0] <= s_axi_control_WDATA;
                    6'h14: src[63:32] <= s_axi_control_WDATA;
                    6'h1c: dst[31:0] <= s_axi_control_WDATA;
                    6'h20: dst[63:32] <= s_axi_control_WDATA;
                    6'h28: count <= s_axi_control_WDATA;
                    default: ;
                endcase
            end else if (s_axi_control_BREADY) begin
                s_axi_control_BVALID <= 1'b0;
            end
            if (s_axi_control_ARVALID && !s_axi_control_RVALID) begin
                s_axi_control_RVALID <= 1'b1;
                case (s_axi_control_ARADDR)
                    6'h00: begin
                        s_axi_control_RDATA <= {28'd0, ready, idle, done, start};
                        done <= 1'b0;  // clear on read
                        ready <= 1'b0;
                    end
                    6'h04: s_axi_control_RDATA <= {31'd0, gie};
                    6'h08: s_axi_control_RDATA <= {31'd0, ier};
                    6'h0c: begin
                        s_axi_control_RDATA <= {31'd0, isr};
                        if (ISR_CLEAR_ON_READ) isr <= 1'b0;
                    end
                    6'h28: s_axi_control_RDATA <= count;
                    default: s_axi_control_RDATA <= 32'd0;
                endcase
            end else if (s_axi_control_RREADY) begin
                s_axi_control_RVALID <= 1'b0;
            end
            if (finish) begin  // after the clear on read: setting wins
                done <= 1'b1;
                ready <= 1'b1;
                if (ier) isr <= 1'b1;
            end
        end
    end

    // ---------------------------------------------------------------- memory, a word at a time
    assign m_axi_gmem_AWID = 1'b0;
    assign m_axi_gmem_AWLEN = 8'd0;
    assign m_axi_gmem_AWSIZE = 3'd2;
    assign m_axi_gmem_AWBURST = 2'b01;
    assign m_axi_gmem_AWLOCK = 2'd0;
    assign m_axi_gmem_AWCACHE = 4'd3;
    assign m_axi_gmem_AWPROT = 3'd0;
    assign m_axi_gmem_AWQOS = 4'd0;
    assign m_axi_gmem_AWREGION = 4'd0;
    assign m_axi_gmem_AWUSER = 1'b0;
    assign m_axi_gmem_WSTRB = 4'hf;
    assign m_axi_gmem_WLAST = 1'b1;
    assign m_axi_gmem_WID = 1'b0;
    assign m_axi_gmem_WUSER = 1'b0;
    assign m_axi_gmem_BREADY = state == RESPONSE;
    assign m_axi_gmem_ARID = 1'b0;
    assign m_axi_gmem_ARLEN = 8'd0;
    assign m_axi_gmem_ARSIZE = 3'd2;
    assign m_axi_gmem_ARBURST = 2'b01;
    assign m_axi_gmem_ARLOCK = 2'd0;
    assign m_axi_gmem_ARCACHE = 4'd3;
    assign m_axi_gmem_ARPROT = 3'd0;
    assign m_axi_gmem_ARQOS = 4'd0;
    assign m_axi_gmem_ARREGION = 4'd0;
    assign m_axi_gmem_ARUSER = 1'b0;
    assign m_axi_gmem_RREADY = state == TAKE;

    always @(posedge ap_clk) begin
        if (!ap_rst_n) begin
            state <= IDLE;
            m_axi_gmem_ARVALID <= 1'b0;
            m_axi_gmem_AWVALID <= 1'b0;
            m_axi_gmem_WVALID <= 1'b0;
        end else begin
            case (state)
                IDLE: if (start) begin
                    index <= 32'd0;
                    if (count != 0) begin
                        m_axi_gmem_ARADDR <= src;
                        m_axi_gmem_ARVALID <= 1'b1;
                        state <= READ;
                    end
                end
                READ: if (m_axi_gmem_ARREADY) begin
                    m_axi_gmem_ARVALID <= 1'b0;
                    state <= TAKE;
                end
                TAKE: if (m_axi_gmem_RVALID && m_axi_gmem_RLAST
                          && m_axi_gmem_RRESP == 2'b00) begin
                    m_axi_gmem_WDATA <= m_axi_gmem_RDATA + table_rom[m_axi_gmem_RDATA[7:0]];
                    m_axi_gmem_AWADDR <= dst + {index, 2'b00};
                    m_axi_gmem_AWVALID <= 1'b1;
                    m_axi_gmem_WVALID <= 1'b1;
                    state <= WRITE;
                end
                WRITE: begin
                    if (m_axi_gmem_AWREADY) m_axi_gmem_AWVALID <= 1'b0;
                    if (m_axi_gmem_WREADY) m_axi_gmem_WVALID <= 1'b0;
                    if ((!m_axi_gmem_AWVALID || m_axi_gmem_AWREADY)
                            && (!m_axi_gmem_WVALID || m_axi_gmem_WREADY))
                        state <= RESPONSE;
                end
                RESPONSE: if (m_axi_gmem_BVALID) begin
                    if (index + 1 == count) begin
                        state <= IDLE;
                    end else begin
                        index <= index + 1;
                        m_axi_gmem_ARADDR <= src + {index + 32'd1, 2'b00};
                        m_axi_gmem_ARVALID <= 1'b1;
                        state <= READ;
                    end
                end
                default: state <= IDLE;
            endcase
        end
    end
endmodule
