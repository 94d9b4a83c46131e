"""A project's synthesizable sources as libclang sees them: functions, their loops, calls
and ``#pragma HLS`` lines, each pragma attached to the function or loop body it sits in.

Only what lies in the project's own files is kept; the Xilinx headers are parsed (the code
must compile against them) but not checked. A function defined in a header is kept once
however many sources include it. Template functions are keyed by where they are defined,
so every instantiation of one template counts as that template.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from edgemoe.hls.headers import include_dirs

from .expressions import COMPARISONS, operands, operator, unwrap
from .pragmas import Pragma, parse_pragma

try:
    import clang.cindex as ci
except ImportError:  # pragma: no cover - the [dev] extra installs libclang
    ci = None


class LintError(RuntimeError):
    """The sources cannot be linted: no libclang, or they do not compile."""


Key = str  # a function's USR (a template's, for every instantiation of it)
Place = tuple[str, int, int]  # where a name is defined: file, line, column

FUNCTION_KINDS = ("FUNCTION_DECL", "FUNCTION_TEMPLATE", "CXX_METHOD")
LOOP_KINDS = ("FOR_STMT", "WHILE_STMT", "DO_STMT")


@dataclass(eq=False)
class Loop:
    cursor: ci.Cursor
    function: Function
    parent: Loop | None
    label: str | None
    pragmas: list[Pragma] = field(default_factory=list)

    @property
    def line(self) -> int:
        return self.cursor.location.line

    @property
    def name(self) -> str:
        return self.label or f"the loop at line {self.line}"

    def has(self, directive: str) -> bool:
        return any(p.directive == directive and "off" not in p.words for p in self.pragmas)

    @property
    def pipelined(self) -> bool:
        return self.has("pipeline")

    def body(self) -> ci.Cursor:
        return list(self.cursor.get_children())[-1 if self.cursor.kind.name != "DO_STMT" else 0]


@dataclass(frozen=True)
class ForHeader:
    """``for (int VARIABLE = START; LEFT COMPARISON RIGHT; STEP)``."""

    variable: ci.Cursor  # its declaration
    start: ci.Cursor
    comparison: str
    left: ci.Cursor
    right: ci.Cursor
    step: ci.Cursor


def for_header(loop: Loop) -> ForHeader | None:
    """The header of a for loop that declares one variable and compares, or None."""
    children = list(loop.cursor.get_children())
    if loop.cursor.kind.name != "FOR_STMT" or len(children) != 4:
        return None
    init, condition, step, _body = children
    variables = [c for c in init.walk_preorder() if c.kind.name == "VAR_DECL"]
    start = list(variables[0].get_children()) if len(variables) == 1 else []
    condition = unwrap(condition)
    pair = operands(condition)
    if not start or pair is None or operator(condition) not in COMPARISONS:
        return None
    return ForHeader(variables[0], start[-1], operator(condition), pair[0], pair[1], step)


@dataclass(frozen=True)
class Call:
    callee: Key
    caller: Function
    loop: Loop | None
    line: int


@dataclass(eq=False)
class Function:
    key: Key
    name: str
    cursor: ci.Cursor
    place: Place
    pragmas: list[Pragma] = field(default_factory=list)  # in its body, outside its loops
    loops: list[Loop] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    @property
    def file(self) -> str:
        return self.place[0]

    @property
    def line(self) -> int:
        return self.place[1]

    def has(self, directive: str) -> bool:
        return any(p.directive == directive and "off" not in p.words for p in self.pragmas)

    @property
    def inlined(self) -> bool:
        return self.has("inline")

    @property
    def top(self) -> bool:
        return self.has("interface")


@dataclass
class Program:
    functions: dict[Key, Function]
    pragmas: list[Pragma]  # every pragma of the project's files
    fields: dict[Place, ci.Cursor]  # members of the project's structs and classes
    globals: frozenset[str]  # names of variables at namespace scope

    def called(self, key: Key) -> Function | None:
        return self.functions.get(key)

    def callers(self, key: Key) -> list[Call]:
        return self._callers.get(key, [])

    @functools.cached_property
    def _callers(self) -> dict[Key, list[Call]]:
        index: dict[Key, list[Call]] = {}
        for function in self.functions.values():
            for call in function.calls:
                index.setdefault(call.callee, []).append(call)
        return index


def _gcc_include() -> list[str]:
    """gcc's own headers (stddef.h ...): the libclang wheel ships no resource folder."""
    compiler = shutil.which("g++") or shutil.which("gcc")
    if compiler is None:
        return []
    folder = subprocess.run([compiler, "-print-file-name=include"], capture_output=True,
                            text=True, check=False).stdout.strip()
    return ["-isystem", folder] if folder and Path(folder).is_dir() else []


@functools.lru_cache(maxsize=1)
def _system_flags() -> tuple[str, ...]:
    flags = ["-x", "c++", "-std=c++14", "-Wno-unknown-pragmas"]
    for folder in include_dirs():
        flags += ["-isystem", str(folder)]
    return (*flags, *_gcc_include())


def _index() -> ci.Index:
    if ci is None:
        raise LintError("the lint needs libclang's Python bindings: pip install libclang "
                        "(in edgemoe[dev])")
    return ci.Index.create()


def _in_project(cursor: ci.Cursor, roots: Sequence[Path]) -> str | None:
    location = cursor.location.file
    return None if location is None else _project_path(location.name, tuple(roots))


@functools.lru_cache(maxsize=4096)
def _project_path(name: str, roots: tuple[Path, ...]) -> str | None:
    path = Path(name).resolve()
    return str(path) if any(path.is_relative_to(root) for root in roots) else None


SCOPES = ("NAMESPACE", "STRUCT_DECL", "CLASS_DECL", "UNEXPOSED_DECL", "LINKAGE_SPEC")


def _declarations(scope: ci.Cursor, roots: Sequence[Path]) -> Iterator[ci.Cursor]:
    """Functions, struct members and namespace-scope variables of the project's files,
    without descending into function bodies or into other files' declarations."""
    for cursor in scope.get_children():
        kind = cursor.kind.name
        if kind not in (*SCOPES, *FUNCTION_KINDS, "FIELD_DECL", "VAR_DECL") \
                or _in_project(cursor, roots) is None:
            continue
        if kind in SCOPES:
            yield from _declarations(cursor, roots)
        else:
            yield cursor


def _pragmas_of_file(tu: ci.TranslationUnit, path: str) -> list[Pragma]:
    handle = tu.get_file(path)
    size = Path(path).stat().st_size
    extent = ci.SourceRange.from_locations(ci.SourceLocation.from_offset(tu, handle, 0),
                                           ci.SourceLocation.from_offset(tu, handle, size))
    lines: dict[int, list[str]] = {}
    for token in tu.get_tokens(extent=extent):
        if token.kind != ci.TokenKind.COMMENT:
            lines.setdefault(token.location.line, []).append(token.spelling)
    return [parse_pragma(path, line, words[3:]) for line, words in sorted(lines.items())
            if len(words) >= 3 and words[0] == "#" and words[1] == "pragma"
            and words[2].upper() == "HLS"]


def _place(cursor: ci.Cursor) -> Place:
    location = cursor.location
    return (str(Path(location.file.name).resolve()), location.line, location.column)


def _lines(cursor: ci.Cursor) -> tuple[str, int, int]:
    extent = cursor.extent
    return (str(Path(extent.start.file.name).resolve()), extent.start.line, extent.end.line)


@dataclass(frozen=True)
class _Names:
    """How a call finds the function it calls."""

    usrs: frozenset[Key]
    places: dict[Place, Key]  # a template's instantiations point at the template
    by_name: dict[str, list[Key]]


def _callee(call: ci.Cursor, names: _Names) -> Key | None:
    target = call.referenced
    if target is not None and target.kind.name in FUNCTION_KINDS and target.location.file:
        if target.get_usr() in names.usrs:
            return target.get_usr()
        return names.places.get(_place(target))
    # a call inside a template body is resolved at instantiation: go by its name
    for child in call.walk_preorder():
        if child.kind.name == "OVERLOADED_DECL_REF":
            keys = names.by_name.get(child.spelling, [])
            return keys[0] if len(keys) == 1 else None
    return None


def _collect(function: Function, names: _Names) -> None:
    def visit(cursor: ci.Cursor, loop: Loop | None, label: str | None) -> None:
        kind = cursor.kind.name
        if kind in LOOP_KINDS:
            loop = Loop(cursor, function, loop, label)
            function.loops.append(loop)
        elif kind == "CALL_EXPR":
            callee = _callee(cursor, names)
            if callee is not None:
                function.calls.append(Call(callee, function, loop, cursor.location.line))
        child_label = cursor.spelling if kind == "LABEL_STMT" else None
        for child in cursor.get_children():
            visit(child, loop, child_label)

    visit(function.cursor, None, None)


def _attach(pragmas: list[Pragma], functions: dict[Key, Function]) -> None:
    """Each pragma to the innermost loop body, else function body, holding its line."""
    for pragma in pragmas:
        for function in functions.values():
            path, first, last = _lines(function.cursor)
            if path != pragma.file or not first <= pragma.line <= last:
                continue
            inside = [loop for loop in function.loops
                      if _lines(loop.body())[1] <= pragma.line <= _lines(loop.body())[2]]
            if inside:
                max(inside, key=lambda loop: _lines(loop.body())[1]).pragmas.append(pragma)
            else:
                function.pragmas.append(pragma)


def read_program(sources: Sequence[Path], roots: Sequence[Path],
                 include: Sequence[Path] = ()) -> Program:
    """Parse ``sources`` (with ``include`` on the path); keep what lies under ``roots``."""
    index = _index()
    roots = [Path(r).resolve() for r in roots]
    flags = [*_system_flags(), *(f"-I{folder}" for folder in include)]
    definitions: dict[Key, ci.Cursor] = {}
    fields: dict[Place, ci.Cursor] = {}
    global_names: set[str] = set()
    files: dict[str, ci.TranslationUnit] = {}
    for source in sources:
        tu = index.parse(str(source), args=flags)
        errors = [d for d in tu.diagnostics if d.severity >= ci.Diagnostic.Error]
        if errors:
            first = errors[0]
            where = f"{first.location.file}:{first.location.line}" if first.location.file \
                else str(source)
            raise LintError(f"{where}: {first.spelling} (the lint needs sources that compile)")
        for cursor in _declarations(tu.cursor, roots):
            kind = cursor.kind.name
            if kind == "FIELD_DECL":
                fields.setdefault(_place(cursor), cursor)
            elif kind == "VAR_DECL":
                global_names.add(cursor.spelling)
            elif cursor.is_definition():
                definitions.setdefault(cursor.get_usr(), cursor)
        for included in [source, *(i.include.name for i in tu.get_includes())]:
            path = str(Path(str(included)).resolve())
            if any(Path(path).is_relative_to(root) for root in roots):
                files.setdefault(path, tu)
    by_name: dict[str, list[Key]] = {}
    for key, cursor in definitions.items():
        by_name.setdefault(cursor.spelling, []).append(key)
    names = _Names(frozenset(definitions), {_place(c): k for k, c in definitions.items()},
                   by_name)
    functions = {key: Function(key, cursor.spelling, cursor, _place(cursor))
                 for key, cursor in definitions.items()}
    for function in functions.values():
        _collect(function, names)
    pragmas = [p for path, tu in sorted(files.items()) for p in _pragmas_of_file(tu, path)]
    _attach(pragmas, functions)
    return Program(functions, pragmas, fields, frozenset(global_names))
