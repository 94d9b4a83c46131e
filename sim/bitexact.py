"""Bit-exact comparison of integer arrays: equal integers, or the first place they differ."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Mismatch:
    index: tuple[int, ...]
    expected: int
    got: int
    count: int
    total: int

    def __str__(self) -> str:
        return (f"{self.count} of {self.total} values differ; first at index {self.index}: "
                f"expected {self.expected}, got {self.got}")


def first_mismatch(expected: np.ndarray, got: np.ndarray) -> Mismatch | None:
    """None when both arrays hold the same integers, else where they first differ.

    Shapes must agree; float arrays are refused (bit-exact means integers).
    """
    expected, got = np.asarray(expected), np.asarray(got)
    for name, array in (("expected", expected), ("got", got)):
        if array.dtype.kind not in "iuO":
            raise TypeError(f"bit-exact comparison needs integer arrays; {name} has dtype "
                            f"{array.dtype}")
    if expected.shape != got.shape:
        raise ValueError(f"shapes differ: expected {expected.shape}, got {got.shape}")
    differ = np.asarray(expected != got, dtype=bool)
    if not differ.any():
        return None
    index = tuple(int(i) for i in np.argwhere(differ)[0])
    return Mismatch(index, int(expected[index]), int(got[index]), int(differ.sum()),
                    differ.size)


def assert_bit_exact(expected: np.ndarray, got: np.ndarray, what: str = "values") -> None:
    mismatch = first_mismatch(expected, got)
    if mismatch is not None:
        raise AssertionError(f"{what}: {mismatch}")
