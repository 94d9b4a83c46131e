"""``#pragma HLS`` lines: read from a source's tokens, checked against UG1399's syntax.

A pragma is its directive name, its ``key = value`` options and its bare words (``off``,
``complete``, ``true``). Values are what UG1399 documents: an integer, or one named
``const``/``constexpr`` constant ("Using Constants with Pragmas"); an expression such as
``A * B`` is not among them, so it is reported, as are unknown directives, options and
option values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_INTEGER = re.compile(r"^[0-9]+$")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_STORAGE_TYPES = frozenset(("fifo", "ram_1p", "ram_1wnr", "ram_2p", "ram_s2p", "ram_t2p",
                            "rom_1p", "rom_2p", "rom_np", "rom_1p_1s", "rom_2p_1s"))
_STORAGE_IMPLS = frozenset(("auto", "block", "bram", "distribute", "lutram", "memory", "srl",
                            "uram"))
_PARTITION_TYPES = frozenset(("complete", "cyclic", "block"))


@dataclass(frozen=True)
class Syntax:
    """What a directive takes: option keys (with their allowed values where UG1399 lists
    them; None for a number or a name) and bare words."""

    options: dict[str, frozenset[str] | None] = field(default_factory=dict)
    words: frozenset[str] = frozenset()


def _numbers(*keys: str) -> dict[str, None]:
    return dict.fromkeys(keys)


SYNTAX: dict[str, Syntax] = {
    "aggregate": Syntax({"variable": None, "compact": frozenset(("bit", "byte", "none",
                                                                 "auto"))}),
    "allocation": Syntax({"instances": None, "limit": None},
                         frozenset(("function", "operation"))),
    "array_partition": Syntax({"variable": None, "type": _PARTITION_TYPES, "factor": None,
                               "dim": None, "off": None}, _PARTITION_TYPES | {"off"}),
    "array_reshape": Syntax({"variable": None, "type": _PARTITION_TYPES, "factor": None,
                             "dim": None, "off": None}, _PARTITION_TYPES | {"object", "off"}),
    "bind_op": Syntax({"variable": None, "op": None, "impl": None, "latency": None}),
    "bind_storage": Syntax({"variable": None, "type": _STORAGE_TYPES,
                            "impl": _STORAGE_IMPLS, "latency": None}),
    "dataflow": Syntax({"disable_start_propagation": None}, frozenset(
        ("disable_start_propagation",))),
    "dependence": Syntax({"variable": None, "class": frozenset(("array", "pointer")),
                          "type": frozenset(("inter", "intra")),
                          "direction": frozenset(("RAW", "WAR", "WAW")), "distance": None,
                          "dependent": frozenset(("true", "false"))},
                         frozenset(("true", "false"))),
    "disaggregate": Syntax({"variable": None}),
    "expression_balance": Syntax({}, frozenset(("off",))),
    "function_instantiate": Syntax({"variable": None}),
    "inline": Syntax({}, frozenset(("off", "recursive"))),
    "interface": Syntax({"mode": frozenset(("m_axi", "s_axilite", "axis", "ap_none",
                                            "ap_vld", "ap_ack", "ap_hs", "ap_ovld",
                                            "ap_memory", "bram", "ap_fifo", "ap_ctrl_none",
                                            "ap_ctrl_hs", "ap_ctrl_chain")),
                         "port": None, "bundle": None, "offset": frozenset(("slave", "direct",
                                                                            "off")),
                         "depth": None, "latency": None, "max_read_burst_length": None,
                         "max_write_burst_length": None, "num_read_outstanding": None,
                         "num_write_outstanding": None, "max_widen_bitwidth": None,
                         "name": None, "register": None, "clock": None,
                         "storage_impl": None, "register_mode": None},
                        frozenset(("m_axi", "s_axilite", "axis", "ap_none", "ap_vld",
                                   "ap_memory", "bram", "ap_fifo", "ap_ctrl_none",
                                   "ap_ctrl_hs", "ap_ctrl_chain", "register"))),
    "latency": Syntax(_numbers("min", "max")),
    "loop_flatten": Syntax({}, frozenset(("off",))),
    "loop_merge": Syntax({}, frozenset(("force",))),
    "loop_tripcount": Syntax(_numbers("min", "max", "avg")),
    "occurrence": Syntax(_numbers("cycle")),
    "pipeline": Syntax({"II": None, "style": frozenset(("stp", "frp", "flp")),
                        "off": None}, frozenset(("off", "rewind"))),
    "reset": Syntax({"variable": None}, frozenset(("off",))),
    "stable": Syntax({"variable": None}),
    "stream": Syntax({"variable": None, "depth": None,
                      "type": frozenset(("fifo", "pipo", "shared", "unsync"))},
                     frozenset(("off",))),
    "top": Syntax({"name": None}),
    "unroll": Syntax(_numbers("factor"), frozenset(("region", "skip_exit_check", "off"))),
}


@dataclass(frozen=True)
class Pragma:
    """One ``#pragma HLS`` line of a project file."""

    file: str
    line: int
    directive: str
    options: dict[str, str]
    words: tuple[str, ...]
    problems: tuple[str, ...]  # what does not follow UG1399's syntax

    @property
    def variable(self) -> str | None:
        return self.options.get("variable")

    def text(self) -> str:
        options = " ".join(f"{k}={v}" for k, v in self.options.items())
        return " ".join(filter(None, ("#pragma HLS", self.directive, *self.words, options)))


def parse_pragma(file: str, line: int, tokens: list[str]) -> Pragma:
    """The tokens after ``#pragma HLS`` on one line, as a Pragma with its problems."""
    problems: list[str] = []
    directive = tokens[0].lower() if tokens else ""
    options: dict[str, str] = {}
    words: list[str] = []
    rest = tokens[1:]
    i = 0
    while i < len(rest):
        if i + 1 < len(rest) and rest[i + 1] == "=":
            key = rest[i]
            value: list[str] = []
            i += 2
            while i < len(rest) and not (i + 1 < len(rest) and rest[i + 1] == "="):
                value.append(rest[i])
                i += 1
            # a trailing bare word belongs to the pragma, not to the value
            if len(value) > 1 and value[-1] in SYNTAX.get(directive, Syntax()).words:
                words.append(value.pop())
            options[key.lower()] = " ".join(value)  # UG1399's keys are case-blind (II, ii)
        else:
            words.append(rest[i])
            i += 1
    syntax = SYNTAX.get(directive)
    if syntax is None:
        problems.append(f"unknown directive {directive or '(none)'!r}")
    else:
        known_keys = {name.lower(): name for name in syntax.options}
        for key, value in options.items():
            known = known_keys.get(key)
            if known is None:
                problems.append(f"{directive} has no option {key!r}")
                continue
            allowed = syntax.options[known]
            if allowed is not None and value not in allowed:
                problems.append(f"{directive} {key}={value!r}: one of "
                                f"{', '.join(sorted(allowed))}")
            elif allowed is None and not (_INTEGER.match(value) or _NAME.match(value)):
                problems.append(f"{directive} {key}={value!r}: an integer or one named "
                                f"constant (UG1399 takes no expressions)")
        for word in words:
            if word not in syntax.words:
                problems.append(f"{directive} takes no bare {word!r}")
    return Pragma(file, line, directive, options, tuple(words), tuple(problems))
