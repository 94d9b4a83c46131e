"""What a string read from a file must look like before it may reach generated code.

Names from an artifact end up in C++ (identifiers, string literals, comments), Verilog,
Makefiles and Tcl. Each kind of name has one pattern here, as narrow as its use:

- ``IDENTIFIER``: a C++ and HDL identifier (the kernel, its arguments and bundles), and no
  keyword of C++, Verilog/SystemVerilog or VHDL (Vitis HLS renames such ports, so the
  registers the driver programs would not be the ones it expects).
- ``NAME``: an artifact or config name (letters, digits, ``_``, ``-``, ``.``).
- ``TENSOR``: a dotted tensor name (``blocks.3.attn.q.weight``).
- ``RELATIVE_PATH``: a file inside an artifact (``vectors/depth/blocks.0.q.bin``): no
  absolute path, no ``..``, no hidden or empty component.
- ``SAFE_PATH``: a path given on the command line that a Makefile or Tcl script may hold
  (no spaces, quotes, ``$`` or other characters those languages would interpret).
"""

from __future__ import annotations

import re

IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
TENSOR = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_]+){0,8}$")
_PART = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
RELATIVE_PATH = re.compile(rf"^{_PART}(/{_PART}){{0,7}}$")
SAFE_PATH = re.compile(r"^[A-Za-z0-9_./+-]+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


CXX_KEYWORDS = _words("""
alignas alignof and and_eq asm auto bitand bitor bool break case catch char char8_t char16_t
char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export
extern false float for friend goto if inline int long mutable namespace new noexcept not not_eq
nullptr operator or or_eq private protected public register reinterpret_cast requires return
short signed sizeof static static_assert static_cast struct switch template this thread_local
throw true try typedef typeid typename union unsigned using virtual void volatile wchar_t while
xor xor_eq main
""")

VERILOG_KEYWORDS = _words("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic
before begin bind bins binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle
checker class clocking cmos config const constraint context continue cover covergroup
coverpoint cross deassign default defparam design disable dist do edge else end endcase
endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface
endmodule endpackage endprimitive endprogram endproperty endspecify endsequence endtable
endtask enum event eventually expect export extends extern final first_match for force foreach
forever fork forkjoin function generate genvar global highz0 highz1 if iff ifnone ignore_bins
illegal_bins implements implies import incdir include initial inout input inside instance int
integer interconnect interface intersect join join_any join_none large let liblist library
local localparam logic longint macromodule matches medium modport module nand negedge nettype
new nexttime nmos nor noshowcancelled not notif0 notif1 null or output package packed parameter
pmos posedge primitive priority program property protected pull0 pull1 pulldown pullup
pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase randsequence rcmos real
realtime ref reg reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1
s_always s_eventually s_nexttime s_until s_until_with scalared sequence shortint shortreal
showcancelled signed small soft solve specify specparam static string strong strong0 strong1
struct super supply0 supply1 sync_accept_on sync_reject_on table tagged task this throughout
time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1 triand trior trireg type typedef
union unique unique0 unsigned until until_with untyped use uwire var vectored virtual void wait
wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
""")

VHDL_KEYWORDS = _words("""
abs access after alias all and architecture array assert assume attribute begin block body
buffer bus case component configuration constant context cover default disconnect downto else
elsif end entity exit fairness file for force function generate generic group guarded if impure
in inertial inout is label library linkage literal loop map mod nand new next nor not null of
on open or others out package parameter port postponed procedure process property protected
pure range record register reject release rem report restrict return rol ror select sequence
severity shared signal sla sll sra srl strong subtype then to transport type unaffected units
until use variable vmode vprop vunit wait when while with xnor xor
""")

RESERVED = CXX_KEYWORDS | VERILOG_KEYWORDS | VHDL_KEYWORDS


class IdentifierError(ValueError):
    """A string that may not reach generated code."""


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def identifier(value: str) -> str:
    """``value`` if it is a C++/HDL identifier and no keyword of C++, Verilog or VHDL."""
    if not isinstance(value, str) or not IDENTIFIER.match(value):
        raise IdentifierError(f"{_shown(value)} is not an identifier (a letter, then letters, "
                              "digits or '_', at most 63)")
    if value.lower() in RESERVED:
        raise IdentifierError(f"{value!r} is a keyword of C++, Verilog or VHDL; Vitis HLS "
                              "would rename it")
    return value


def name(value: str) -> str:
    """``value`` if it is an artifact or config name."""
    if not isinstance(value, str) or not NAME.match(value):
        raise IdentifierError(f"{_shown(value)} is not a name (letters, digits, '_', '-' or "
                              "'.', starting with a letter or digit, at most 64)")
    return value


def safe_path(value: str, what: str) -> str:
    """``value`` if a Makefile and a Tcl script can hold it as it is."""
    if not SAFE_PATH.match(value):
        raise IdentifierError(f"{what} {value!r} has characters a Makefile or Tcl script would "
                              "interpret (only letters, digits and _ . / + - are safe); move "
                              "it to a path without them")
    return value
