"""64-bit hashes of string values and of whole rows, computed straight from the Arrow
buffers by the compiled kernels in native/hashing.c, and a HyperLogLog distinct-count
estimate built on them.

A value's hash depends on its bytes and length only (so it is the same in every batch):
the length times a constant, then for each 8 bytes (little-endian, the last word
zero-padded) ``h = w ^ h; h *= M1; h ^= h >> 29``, then MurmurHash3's fmix64. A row's
hash combines its values' hashes in column order: ``row = h0``, then for each next
value hash ``row = row * M2 ^ h``, then fmix64 (native/hashing.c). These hashes only *find*
duplicate candidates: dedup.py compares candidate rows byte for byte before dropping
one, so a collision costs a comparison, never a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _native
from .strbuf import column_buffers

U64 = npt.NDArray[np.uint64]


def value_hashes(values: pa.Array) -> U64:
    """One 64-bit hash per value of a string array; every null gets the same one."""
    out = np.empty(len(values), dtype=np.uint64)
    if len(values):
        _native.hash_values(column_buffers(values), out)
    return out


def row_hashes(columns: Sequence[pa.Array], distinct: Sequence[DistinctEstimate]) -> U64:
    """The row hash of the columns' :func:`value_hashes` (see above), in one compiled
    pass that also folds each column's values into its distinct estimate."""
    n = len(columns[0])
    out = np.empty(n, dtype=np.uint64)
    if n:
        _native.hash_rows(
            [column_buffers(c) for c in columns], [d.registers for d in distinct], out
        )
    return out


class DistinctEstimate:
    """HyperLogLog over 64-bit value hashes (2^12 registers, about 1.6% error): a
    hash's top 12 bits pick a register, which keeps the largest rank (leading zeros
    of the remaining bits, plus one) seen."""

    P = 12

    def __init__(self) -> None:
        self.registers = np.zeros(1 << self.P, dtype=np.uint8)

    def add(self, hashes: U64, valid: npt.NDArray[np.bool_] | None = None) -> None:
        _native.hll_add(
            self.registers,
            np.ascontiguousarray(hashes, dtype=np.uint64),
            None if valid is None else np.ascontiguousarray(valid, dtype=np.bool_),
        )

    def estimate(self) -> int:
        m = float(len(self.registers))
        raw = (
            (0.7213 / (1 + 1.079 / m))
            * m
            * m
            / float(np.sum(np.exp2(-self.registers.astype(float))))
        )
        zeros = int(np.count_nonzero(self.registers == 0))
        if raw <= 2.5 * m and zeros:
            # Linear counting is far more accurate for small cardinalities.
            return round(m * float(np.log(m / zeros)))
        return round(float(raw))
