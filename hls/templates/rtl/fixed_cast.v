// fixed_cast: one ap_fixed converting assignment, combinational.
//
// The input is a raw integer with IN_F fraction bits (signed when IN_SIGNED); the output
// the raw bits of an OUT_W-bit format with OUT_F fraction bits. Dropped fraction bits
// round by ROUNDING, then the value overflows by OVERFLOW, as ap_fixed<W, I, Q, O> does:
//   ROUNDING  0 TRN  1 TRN_ZERO  2 RND  3 RND_ZERO  4 RND_MIN_INF  5 RND_INF  6 RND_CONV
//   OVERFLOW  0 WRAP 1 SAT       2 SAT_ZERO         3 SAT_SYM
`default_nettype none

module fixed_cast #(
    parameter integer IN_W = 16,
    parameter integer IN_F = 8,
    parameter integer IN_SIGNED = 1,
    parameter integer OUT_W = 8,
    parameter integer OUT_F = 4,
    parameter integer OUT_SIGNED = 1,
    parameter integer ROUNDING = 0,
    parameter integer OVERFLOW = 0
) (
    input  wire [IN_W-1:0]  in_raw,
    output wire [OUT_W-1:0] out_raw
);
    localparam integer SHIFT = IN_F - OUT_F;
    // Past IN_W + 1 dropped bits the floor and every rounding decision are already fixed.
    localparam integer DROP = SHIFT > IN_W + 1 ? IN_W + 1 : SHIFT;
    localparam integer GROW = SHIFT < 0 ? -SHIFT : 0;
    localparam integer WORK_W = (IN_W + GROW > OUT_W ? IN_W + GROW : OUT_W) + 3;
    localparam [WORK_W-1:0] ONE = 1;

    wire negative = IN_SIGNED != 0 && in_raw[IN_W-1];
    wire signed [WORK_W-1:0] value = {{(WORK_W-IN_W){negative}}, in_raw};

    wire signed [WORK_W-1:0] rounded;
    generate
        if (DROP > 0) begin : g_round
            /* verilator lint_off UNUSEDSIGNAL */
            wire signed [WORK_W-1:0] floor = value >>> DROP;
            /* verilator lint_on UNUSEDSIGNAL */
            wire [DROP-1:0] dropped = value[DROP-1:0];
            wire half = dropped[DROP-1];
            wire below_half;  // any dropped bit under the half bit
            if (DROP > 1) begin : g_rest
                assign below_half = |dropped[DROP-2:0];
            end else begin : g_no_rest
                assign below_half = 1'b0;
            end
            wire above_half = half & below_half;
            wire tie = half & ~below_half;
            wire inexact = |dropped;
            reg increment;
            always @(*) begin
                case (ROUNDING)
                    1: increment = negative & inexact;
                    2: increment = half;
                    3: increment = above_half | (tie & negative);
                    4: increment = above_half;
                    5: increment = above_half | (tie & ~negative);
                    6: increment = above_half | (tie & floor[0]);
                    default: increment = 1'b0;
                endcase
            end
            assign rounded = floor + {{(WORK_W-1){1'b0}}, increment};
        end else begin : g_exact
            assign rounded = value <<< GROW;
        end
    endgenerate

    localparam signed [WORK_W-1:0] MAX = OUT_SIGNED != 0 ? (ONE << (OUT_W - 1)) - ONE
                                                         : (ONE << OUT_W) - ONE;
    localparam signed [WORK_W-1:0] MIN = OUT_SIGNED == 0 ? {WORK_W{1'b0}}
                                       : (OVERFLOW == 3 && OUT_W > 1) ? -MAX
                                       : -(ONE << (OUT_W - 1));
    wire above = rounded > MAX;
    wire below = rounded < MIN;

    /* verilator lint_off UNUSEDSIGNAL */
    reg signed [WORK_W-1:0] result;
    /* verilator lint_on UNUSEDSIGNAL */
    always @(*) begin
        if (OVERFLOW == 0 || !(above || below)) result = rounded;  // WRAP keeps the low bits
        else if (OVERFLOW == 2) result = {WORK_W{1'b0}};
        else if (above) result = MAX;
        else result = MIN;
    end
    assign out_raw = result[OUT_W-1:0];
endmodule

`default_nettype wire
