"""The rules of ``edgemoe hls lint``: what a Vitis engineer would refuse in a review,
each as a function of the parsed program that yields findings at file and line.

Each rule is one of DESIGN.md's "Writing HLS that synthesizes" (and UG1399's pointer,
pragma and loop chapters) that code can show; what only synthesis can tell (the II a
recurrence reaches, timing) is the cycle model's and csynth's business.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from edgemoe.sim.identifiers import VERILOG_KEYWORDS, VHDL_KEYWORDS

from .expressions import (
    COMPARISONS,
    indices,
    is_constant,
    operands,
    operator,
    subscripted_variable,
    unwrap,
)
from .pragmas import Pragma
from .source import Function, Key, Loop, Program, for_header

if TYPE_CHECKING:  # libclang is needed to lint, not to import
    import clang.cindex as ci


@dataclass(frozen=True, order=True)
class Finding:
    file: str
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.rule}: {self.message}"


def _at(cursor: ci.Cursor, rule: str, message: str) -> Finding:
    return Finding(str(cursor.location.file.name), cursor.location.line, rule, message)


def pointer_members(program: Program) -> Iterator[Finding]:
    """UG1399 "Pointer Limitations": a struct that reaches hardware holds values."""
    for field in program.fields.values():
        kind = field.type.get_canonical().kind.name
        if kind in ("POINTER", "LVALUEREFERENCE", "RVALUEREFERENCE"):
            owner = field.semantic_parent.spelling
            yield _at(field, "pointer-member",
                      f"{owner}::{field.spelling} is a {field.type.spelling}: hold the value "
                      f"(or an index) instead")


def pointer_comparisons(program: Program) -> Iterator[Finding]:
    """SYNCHK 200-11: pointers compared with each other or with nullptr."""
    for function in program.functions.values():
        for cursor in function.cursor.walk_preorder():
            if operator(cursor) not in COMPARISONS:
                continue
            pair = operands(cursor)
            if pair and any(_is_pointer(side) for side in pair):
                yield _at(cursor, "pointer-comparison",
                          f"{function.name} compares pointers: pass a flag instead")


def _is_pointer(cursor: ci.Cursor) -> bool:
    cursor = unwrap(cursor)
    return cursor.kind.name == "CXX_NULL_PTR_LITERAL_EXPR" \
        or cursor.type.get_canonical().kind.name in ("POINTER", "NULLPTR")


def unsized_arrays(program: Program) -> Iterator[Finding]:
    """Array parameters of functions that become modules: their size makes the port."""
    for function in program.functions.values():
        if function.inlined:
            continue
        for cursor in function.cursor.get_children():
            if cursor.kind.name == "PARM_DECL" \
                    and cursor.type.kind.name == "INCOMPLETEARRAY":
                yield _at(cursor, "unsized-array-parameter",
                          f"{function.name}({cursor.spelling}) is {cursor.type.spelling}: give "
                          f"its size (or inline {function.name})")


def element_addresses(program: Program) -> Iterator[Finding]:
    """``&a[i][j]`` passed on: the callee indexes a flattened view the partitioning of
    ``a`` does not follow."""
    for function in program.functions.values():
        for cursor in function.cursor.walk_preorder():
            if cursor.kind.name != "UNARY_OPERATOR":
                continue
            tokens = list(cursor.get_tokens())
            child = next(cursor.get_children(), None)
            if tokens and tokens[0].spelling == "&" and child is not None \
                    and unwrap(child).kind.name == "ARRAY_SUBSCRIPT_EXPR":
                yield _at(cursor, "element-address",
                          f"{function.name} takes the address of an element of "
                          f"{subscripted_variable(unwrap(child))}: pass the array itself")


def _inside(loop: Loop | None, region: Loop) -> bool:
    while loop is not None:
        if loop is region:
            return True
        loop = loop.parent
    return False


def _pipelined_regions(program: Program) -> Iterator[tuple[str, Function, ci.Cursor,
                                                           list[Key]]]:
    """Every pipelined loop or function: its name, function, body and the functions it
    calls (which HLS inlines into it)."""
    for function in program.functions.values():
        if function.has("pipeline"):
            yield (function.name, function, function.cursor,
                   [c.callee for c in function.calls])
        for loop in function.loops:
            if loop.pipelined:
                calls = [c.callee for c in function.calls if _inside(c.loop, loop)]
                yield f"{function.name}/{loop.name}", function, loop.cursor, calls


def _reached(program: Program, start: list[Key]) -> list[Function]:
    seen: dict[Key, Function] = {}
    todo = list(start)
    while todo:
        key = todo.pop()
        function = program.called(key)
        if function is None or key in seen:
            continue
        seen[key] = function
        todo += [c.callee for c in function.calls]
    return list(seen.values())


def divisions(program: Program) -> Iterator[Finding]:
    """A run-time ``/`` or ``%`` in a pipelined loop builds a divider; so does one in a
    function the loop calls."""
    reported: set[tuple[str, int]] = set()
    for region, _function, body, calls in _pipelined_regions(program):
        bodies = [body, *(f.cursor for f in _reached(program, calls))]
        for tree in bodies:
            for cursor in tree.walk_preorder():
                op = operator(cursor)
                if op not in ("/", "%", "/=", "%="):
                    continue
                pair = operands(cursor)
                if pair is None or is_constant(pair[1]):
                    continue
                finding = _at(cursor, "division-in-pipeline",
                              f"run-time '{op}' in pipelined {region}: count instead")
                if (finding.file, finding.line) not in reported:
                    reported.add((finding.file, finding.line))
                    yield finding


def _fixed_trip(loop: Loop) -> bool:
    """A for loop from a constant, to a constant, by a constant step."""
    header = for_header(loop)
    if header is None or not is_constant(header.start):
        return False
    name = header.variable.spelling

    def constant_besides_variable(tree: ci.Cursor) -> bool:
        tree = unwrap(tree)
        if tree.kind.name == "DECL_REF_EXPR" and tree.spelling == name:
            return True
        children = list(tree.get_children())
        if not children or tree.kind.name == "DECL_REF_EXPR":
            return is_constant(tree)
        return all(constant_besides_variable(c) for c in children)

    return all(constant_besides_variable(side)
               for side in (header.left, header.right, header.step))


def trip_counts(program: Program) -> Iterator[Finding]:
    """Without a trip count csynth reports latency '?' and the estimate gets nothing."""
    for function in program.functions.values():
        for loop in function.loops:
            if not _fixed_trip(loop) and not loop.has("loop_tripcount"):
                yield _at(loop.cursor, "missing-tripcount",
                          f"{function.name}/{loop.name} has a variable trip count and no "
                          f"loop_tripcount")


def _call_sites(program: Program, key: Key, seen: frozenset[Key] = frozenset()
                ) -> list[Function]:
    """The non-inlined functions that end up calling ``key``, once per call site, seen
    through inlined wrappers."""
    sites: list[Function] = []
    for call in program.callers(key):
        caller = call.caller
        if caller.inlined and caller.key not in seen:
            sites += _call_sites(program, caller.key, seen | {caller.key})
        elif not caller.inlined:
            sites.append(caller)
    return sites


def _limited(parent: Function, name: str) -> bool:
    return any(p.directive == "allocation" and p.options.get("instances") == name
               and p.options.get("limit") == "1"
               for p in [*parent.pragmas, *(q for loop in parent.loops for q in loop.pragmas)])


def shared_units(program: Program) -> Iterator[Finding]:
    """Vitis shares a function's instance only among the call sites of one parent, and
    only under ``allocation ... limit=1``: a unit reached from several parents, or called
    at several places without the limit, is built several times."""
    for function in program.functions.values():
        if function.inlined or function.top:
            continue
        sites = Counter(_call_sites(program, function.key))
        if len(sites) > 1:
            parents = ", ".join(sorted(f.name for f in sites))
            yield _at(function.cursor, "shared-unit",
                      f"{function.name} is reached from {len(sites)} functions ({parents}): "
                      f"one instance each; reach it from one through inlined wrappers")
        elif sites:
            parent, count = next(iter(sites.items()))
            if count > 1 and not _limited(parent, function.name):
                yield _at(function.cursor, "shared-unit",
                          f"{function.name} is called at {count} places in {parent.name} "
                          f"without 'allocation function instances={function.name} limit=1'")


def _clears(pragma: Pragma, variable: str) -> bool:
    """An inter-iteration dependence pragma on ``variable`` that says there is none, or
    gives its distance."""
    return (pragma.directive == "dependence" and pragma.variable == variable
            and pragma.options.get("type", "inter") == "inter"
            and ("false" in pragma.words or pragma.options.get("dependent") == "false"
                 or "distance" in pragma.options))


def _dependence_named(function: Function, loop: Loop | None, variable: str) -> bool:
    while loop is not None:
        if any(_clears(p, variable) for p in loop.pragmas):
            return True
        loop = loop.parent
    return any(_clears(p, variable) for p in function.pragmas)


MEMORY_READS = ("ARRAY_SUBSCRIPT_EXPR", "MEMBER_REF_EXPR")
ASSIGNMENTS = frozenset(("=", "+=", "-=", "*=", "/=", "%=", "|=", "&=", "^=", "<<=", ">>="))


def _increment_target(cursor: ci.Cursor) -> ci.Cursor | None:
    """What ``a[i]++`` or ``--a[i]`` (built-in or ap_int's) updates, or None."""
    kind = cursor.kind.name
    if kind == "UNARY_OPERATOR":
        tokens = [t.spelling for t in cursor.get_tokens()]
        if not tokens or (tokens[0] not in ("++", "--") and tokens[-1] not in ("++", "--")):
            return None
    elif not (kind == "CALL_EXPR" and cursor.spelling in ("operator++", "operator--")):
        return None
    target = next((c for c in cursor.get_children()
                   if unwrap(c).kind.name == "ARRAY_SUBSCRIPT_EXPR"), None)
    return unwrap(target) if target is not None else None


def _loaded_variables(function: Function) -> set[str]:
    """Local variables read from an array (``const int t = queue[r];`` or ``t = queue[r];``)."""
    loaded = set()
    for cursor in function.cursor.walk_preorder():
        if cursor.kind.name == "VAR_DECL":
            source, name = cursor, cursor.spelling
        elif operator(cursor) == "=" and (pair := operands(cursor)) is not None \
                and unwrap(pair[0]).kind.name == "DECL_REF_EXPR":
            source, name = pair[1], unwrap(pair[0]).spelling
        else:
            continue
        if any(d.kind.name == "ARRAY_SUBSCRIPT_EXPR" for d in source.walk_preorder()):
            loaded.add(name)
    return loaded


def _reads_memory(index: ci.Cursor, loaded: set[str]) -> bool:
    return any(c.kind.name in MEMORY_READS
               or (c.kind.name == "DECL_REF_EXPR" and c.spelling in loaded)
               for c in index.walk_preorder())


def indirect_updates(program: Program) -> Iterator[Finding]:
    """``a[b[i]] += x`` in a pipelined loop (directly, or through a local read from
    memory): HLS must assume the next iteration reads what this one writes unless a
    dependence pragma says otherwise."""
    for function in program.functions.values():
        loaded = _loaded_variables(function)
        for loop in function.loops:
            if not loop.pipelined:
                continue
            for cursor in loop.cursor.walk_preorder():
                op = operator(cursor)
                pair = operands(cursor) if op in ASSIGNMENTS else None
                if pair is None:
                    step = _increment_target(cursor)
                    if step is None:
                        continue
                    op, pair = "+=", (step, step)
                target = unwrap(pair[0])
                if target.kind.name != "ARRAY_SUBSCRIPT_EXPR":
                    continue
                variable = subscripted_variable(target)
                indirect = any(_reads_memory(index, loaded) for index in indices(target))
                reads = op != "=" or any(
                    c.kind.name == "ARRAY_SUBSCRIPT_EXPR" and subscripted_variable(c) == variable
                    for c in pair[1].walk_preorder())
                if variable and indirect and reads \
                        and not _dependence_named(function, loop, variable):
                    yield _at(cursor, "indirect-update",
                              f"{function.name}/{loop.name} updates {variable} at an index "
                              f"read from memory with no dependence pragma on {variable}")


HDL_KEYWORDS = VERILOG_KEYWORDS | VHDL_KEYWORDS


def hdl_keyword_ports(program: Program) -> Iterator[Finding]:
    """Vitis renames a top-level argument an HDL reserves (``task`` becomes ``task_r``):
    the driver's register names would no longer match."""
    for function in program.functions.values():
        if not function.top:
            continue
        for cursor in function.cursor.get_children():
            if cursor.kind.name == "PARM_DECL" and cursor.spelling.lower() in HDL_KEYWORDS:
                yield _at(cursor, "hdl-keyword-port",
                          f"{function.name}'s argument {cursor.spelling!r} is an HDL keyword")


def _declared(function: Function) -> set[str]:
    return {c.spelling for c in function.cursor.walk_preorder()
            if c.kind.name in ("PARM_DECL", "VAR_DECL")}


def pragma_syntax(program: Program) -> Iterator[Finding]:
    """Unknown directives, options and values, and pragmas naming what is not there."""
    for pragma in program.pragmas:
        for problem in pragma.problems:
            yield Finding(pragma.file, pragma.line, "unknown-pragma", problem)
    names = {f.name for f in program.functions.values()}
    for function in program.functions.values():
        declared = _declared(function) | program.globals
        for pragma in [*function.pragmas, *(p for loop in function.loops for p in loop.pragmas)]:
            for key in ("variable", "port"):
                name = pragma.options.get(key)
                if name is not None and name != "return" and name not in declared:
                    yield Finding(pragma.file, pragma.line, "unknown-pragma",
                                  f"{pragma.directive} {key}={name}: no such variable in "
                                  f"{function.name}")
            instances = pragma.options.get("instances")
            if pragma.directive == "allocation" and "function" in pragma.words \
                    and instances not in names:
                yield Finding(pragma.file, pragma.line, "unknown-pragma",
                              f"allocation instances={instances}: no such function")


RULES: dict[str, Callable[[Program], Iterator[Finding]]] = {
    "pointer-member": pointer_members,
    "pointer-comparison": pointer_comparisons,
    "unsized-array-parameter": unsized_arrays,
    "element-address": element_addresses,
    "division-in-pipeline": divisions,
    "missing-tripcount": trip_counts,
    "shared-unit": shared_units,
    "indirect-update": indirect_updates,
    "hdl-keyword-port": hdl_keyword_ports,
    "unknown-pragma": pragma_syntax,
}
