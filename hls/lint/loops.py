"""The labelled loops of a project as its code shows them: how each is scheduled
(pipelined, unrolled, or run as written), the II its pragma asks for, and its trip count
where the code fixes one (constant bounds, or a ``loop_tripcount`` max that names a
constant). The cycle model is checked against these (``edgemoe.hls.perf.loops``)."""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .expressions import operands, operator
from .source import Loop, Program, for_header

if TYPE_CHECKING:
    import clang.cindex as ci


@dataclass(frozen=True)
class LoopFacts:
    label: str
    function: str
    kind: str  # "pipelined", "unrolled" or "sequential"
    ii: int | None  # the pipeline pragma's II, None when it leaves it to the tool
    trip: int | None  # None: set per call (a template's parameter) or at run time
    parent: str | None  # the label of the loop it sits in


@functools.lru_cache(maxsize=1)
def _evaluator() -> ctypes.CDLL:
    import clang.cindex as ci

    lib = ci.conf.lib
    lib.clang_Cursor_Evaluate.restype = ctypes.c_void_p
    lib.clang_Cursor_Evaluate.argtypes = [ci.Cursor]
    lib.clang_EvalResult_getKind.restype = ctypes.c_int
    lib.clang_EvalResult_getKind.argtypes = [ctypes.c_void_p]
    lib.clang_EvalResult_getAsLongLong.restype = ctypes.c_longlong
    lib.clang_EvalResult_getAsLongLong.argtypes = [ctypes.c_void_p]
    lib.clang_EvalResult_dispose.argtypes = [ctypes.c_void_p]
    return lib


INTEGER_RESULT = 1  # CXEval_Int


def evaluate(cursor: ci.Cursor) -> int | None:
    """The value of a constant integer expression or constant's declaration, or None."""
    lib = _evaluator()
    result = lib.clang_Cursor_Evaluate(cursor)
    if not result:
        return None
    try:
        if lib.clang_EvalResult_getKind(result) != INTEGER_RESULT:
            return None
        return int(lib.clang_EvalResult_getAsLongLong(result))
    finally:
        lib.clang_EvalResult_dispose(result)


def _fixed_trip(loop: Loop) -> int | None:
    """``for (int i = A; i < B; i += C)`` with A, B and C constant."""
    header = for_header(loop)
    if header is None or header.comparison not in ("<", "<="):
        return None
    start, bound = evaluate(header.start), evaluate(header.right)
    tokens = [t.spelling for t in header.step.get_tokens()]
    if "++" in tokens:
        stride = 1
    elif operator(header.step) == "+=" and operands(header.step) is not None:
        stride = evaluate(operands(header.step)[1])
    else:
        return None
    if start is None or bound is None or not stride:
        return None
    bound += header.comparison == "<="
    return max(0, -(-(bound - start) // stride))


def _named_constant(function: ci.Cursor, name: str) -> int | None:
    """A constant the pragma names: local to the function, else at namespace scope in the
    project's own files of its translation unit."""
    for cursor in function.walk_preorder():
        if cursor.kind.name == "VAR_DECL" and cursor.spelling == name:
            return evaluate(cursor)
    return _namespace_constants(function.translation_unit).get(name)


@functools.lru_cache(maxsize=32)
def _namespace_constants(tu: ci.TranslationUnit) -> dict[str, int]:
    """Integer constants declared at namespace scope outside the system headers."""
    constants: dict[str, int] = {}
    scopes = [tu.cursor]
    while scopes:
        for cursor in scopes.pop().get_children():
            if cursor.location.is_in_system_header:
                continue
            if cursor.kind.name in ("NAMESPACE", "LINKAGE_SPEC", "UNEXPOSED_DECL"):
                scopes.append(cursor)
            elif cursor.kind.name == "VAR_DECL":
                value = evaluate(cursor)
                if value is not None:
                    constants.setdefault(cursor.spelling, value)
    return constants


def _tripcount(loop: Loop) -> int | None:
    for pragma in loop.pragmas:
        if pragma.directive == "loop_tripcount" and "max" in pragma.options:
            value = pragma.options["max"]
            return int(value) if value.isdigit() else _named_constant(
                loop.function.cursor, value)
    return None


def _ii(loop: Loop) -> int | None:
    for pragma in loop.pragmas:
        if pragma.directive == "pipeline" and "off" not in pragma.words:
            value = pragma.options.get("ii")
            return int(value) if value is not None and value.isdigit() else None
    return None


def loop_facts(program: Program) -> dict[str, LoopFacts]:
    """Every labelled loop of the program by its label (labels are unique in a project)."""
    facts: dict[str, LoopFacts] = {}
    for function in program.functions.values():
        for loop in function.loops:
            if loop.label is None:
                continue
            kind = ("pipelined" if loop.pipelined else
                    "unrolled" if loop.has("unroll") else "sequential")
            trip = _fixed_trip(loop)
            facts[loop.label] = LoopFacts(
                loop.label, function.name, kind, _ii(loop),
                trip if trip is not None else _tripcount(loop),
                loop.parent.label if loop.parent is not None else None)
    return facts
