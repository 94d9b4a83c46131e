"""The base of every record read from a file: frozen, typed, strict, validated at load.

A ``Record`` refuses unknown keys, values of the wrong JSON type (no ``"16"`` for 16, no
``1`` for true), NaN and infinities. The string types below carry the patterns of
``identifiers``, so a record that holds one has already been checked, and its JSON Schema
says so.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from . import identifiers

#: Sizes in bytes a record may state: up to 1 TiB.
MAX_BYTES = 1 << 40


class Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, allow_inf_nan=False,
                              validate_default=True)


Identifier = Annotated[str, Field(pattern=identifiers.IDENTIFIER.pattern),
                       AfterValidator(identifiers.identifier)]
Name = Annotated[str, Field(pattern=identifiers.NAME.pattern)]
TensorName = Annotated[str, Field(pattern=identifiers.TENSOR.pattern)]
RelativePath = Annotated[str, Field(pattern=identifiers.RELATIVE_PATH.pattern)]
Sha256 = Annotated[str, Field(pattern=identifiers.SHA256.pattern)]
Count = Annotated[int, Field(ge=0, le=MAX_BYTES)]
Positive = Annotated[int, Field(ge=1, le=MAX_BYTES)]
#: A line of text shown to people (notes, descriptions): printable, one line.
Text = Annotated[str, Field(pattern=r"^[ -~]{0,300}$")]


def describe(error: ValidationError, source: str, limit: int = 3) -> str:
    """A validation error as one line: where each problem is and what it is."""
    parts = []
    for item in error.errors()[:limit]:
        where = ".".join(str(part) for part in item["loc"]) or "top level"
        message = item["msg"].removeprefix("Value error, ").removeprefix("Assertion failed, ")
        if item["type"] == "missing":
            message = "missing"
        elif item["type"] == "extra_forbidden":
            message = "unknown key"
        elif item["type"] == "string_pattern_mismatch":
            message = f"{_shown(item['input'])} is not allowed here ({message})"
        parts.append(f"{where}: {message}")
    more = error.error_count() - len(parts)
    return f"{source}: " + "; ".join(parts) + (f" (and {more} more)" if more > 0 else "")


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
