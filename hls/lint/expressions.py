"""What the rules ask of an expression: its operator, whether it is a compile-time
constant, which array it subscripts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # libclang is needed to lint, not to import
    import clang.cindex as ci


LITERALS = ("INTEGER_LITERAL", "CXX_BOOL_LITERAL_EXPR", "CHARACTER_LITERAL",
            "FLOATING_LITERAL", "CXX_UNARY_EXPR")  # sizeof counts as a constant
CONSTANT_DECLARATIONS = ("ENUM_CONSTANT_DECL", "TEMPLATE_NON_TYPE_PARAMETER")
COMPARISONS = frozenset(("==", "!=", "<", ">", "<=", ">="))
# ap_int's operators are calls: their spelling names the operator
OPERATOR_CALLS = {f"operator{op}": op for op in ("/", "%", "/=", "%=", "+=", "-=", "*=",
                                                 "|=", "&=", "^=", "<<=", ">>=", "=")}


def operator(cursor: ci.Cursor) -> str | None:
    """The operator of a binary or compound-assignment expression (built-in or ap_int's)."""
    kind = cursor.kind.name
    if kind == "CALL_EXPR":
        return OPERATOR_CALLS.get(cursor.spelling)
    if kind not in ("BINARY_OPERATOR", "COMPOUND_ASSIGNMENT_OPERATOR"):
        return None
    left = next(cursor.get_children(), None)
    if left is None:
        return None
    end = left.extent.end.offset
    for token in cursor.get_tokens():
        if token.extent.start.offset >= end:
            return token.spelling
    return None


def operands(cursor: ci.Cursor) -> tuple[ci.Cursor, ci.Cursor] | None:
    """Left and right operand of a binary expression (the callee of an operator call is
    skipped)."""
    children = [c for c in cursor.get_children()
                if not (cursor.kind.name == "CALL_EXPR"
                        and c.spelling.startswith("operator"))]
    return (children[0], children[-1]) if len(children) >= 2 else None


def _constant_variable(declaration: ci.Cursor) -> bool:
    if not declaration.type.is_const_qualified():
        return False
    scope = declaration.semantic_parent
    if scope is not None and scope.kind.name in ("NAMESPACE", "TRANSLATION_UNIT",
                                                 "STRUCT_DECL", "CLASS_DECL"):
        return True
    return any(t.spelling == "constexpr" for t in declaration.get_tokens())


def is_constant(cursor: ci.Cursor) -> bool:
    """Whether the expression is known at compile time: literals, enumerators, template
    parameters and const/constexpr constants, combined by operators."""
    kind = cursor.kind.name
    if kind in LITERALS:
        return True
    if kind == "DECL_REF_EXPR":
        target = cursor.referenced
        if target is None:
            return False
        if target.kind.name in CONSTANT_DECLARATIONS:
            return True
        return target.kind.name == "VAR_DECL" and _constant_variable(target)
    if kind in ("CALL_EXPR", "MEMBER_REF_EXPR", "ARRAY_SUBSCRIPT_EXPR"):
        return kind == "CALL_EXPR" and _is_conversion(cursor)
    children = list(cursor.get_children())
    return bool(children) and all(is_constant(c) for c in children)


def _is_conversion(call: ci.Cursor) -> bool:
    """``wide_t(1)``: a constructor or cast of constants."""
    children = list(call.get_children())
    return call.referenced is not None and call.referenced.kind.name == "CONSTRUCTOR" \
        and bool(children) and all(is_constant(c) for c in children)


def subscripted_variable(cursor: ci.Cursor) -> str | None:
    """The array a subscript expression reads or writes: ``a`` of ``a[i][j]``."""
    while cursor.kind.name in ("ARRAY_SUBSCRIPT_EXPR", "UNEXPOSED_EXPR"):
        children = list(cursor.get_children())
        if not children:
            return None
        cursor = children[0]
    return cursor.spelling if cursor.kind.name in ("DECL_REF_EXPR", "MEMBER_REF_EXPR") \
        else None


def indices(subscript: ci.Cursor) -> Iterator[ci.Cursor]:
    """The index expressions of ``a[i][j]``."""
    while subscript.kind.name in ("ARRAY_SUBSCRIPT_EXPR", "UNEXPOSED_EXPR"):
        children = list(subscript.get_children())
        if subscript.kind.name == "ARRAY_SUBSCRIPT_EXPR" and len(children) == 2:
            yield children[1]
        if not children:
            return
        subscript = children[0]


def unwrap(cursor: ci.Cursor) -> ci.Cursor:
    """Through implicit casts and parentheses to the expression itself."""
    while cursor.kind.name in ("UNEXPOSED_EXPR", "PAREN_EXPR"):
        children = list(cursor.get_children())
        if len(children) != 1:
            break
        cursor = children[0]
    return cursor
