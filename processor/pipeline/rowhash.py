"""64-bit hashes of string values and of whole rows, computed straight from the Arrow
buffers by the compiled kernels in native/hashing.c, and a HyperLogLog distinct-count
estimate built on them.

A value's hash depends on its bytes and length only (so it is the same in every batch):
the length times a constant, then for each 8 bytes (little-endian, the last word
zero-padded) ``h = w ^ h; h *= M1; h ^= h >> 29``, then MurmurHash3's fmix64. A row's
hash combines its values' hashes in column order (:func:`combine_rows`). These hashes only *find*
duplicate candidates: dedup.py compares candidate rows byte for byte before dropping
one, so a collision costs a comparison, never a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _native

U64 = npt.NDArray[np.uint64]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
_NULL = np.uint64(0xA4093822299F31D0)
_S33 = np.uint64(33)


def fmix(h: U64) -> U64:
    """MurmurHash3's 64-bit finaliser: full avalanche, in place."""
    h ^= h >> _S33
    h *= _F1
    h ^= h >> _S33
    h *= _F2
    h ^= h >> _S33
    return h


def valid_mask(values: pa.Array) -> npt.NDArray[np.bool_] | None:
    """numpy bool mask of non-null slots, or None when there is no null."""
    if not values.null_count:
        return None
    bitmap = values.buffers()[0]
    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8), bitorder="little")
    return bits[values.offset : values.offset + len(values)].astype(bool)


def column_buffers(values: pa.Array) -> _native.Column:
    """A string array as the buffer tuple the compiled kernels take (no copy)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise TypeError(f"expected strings, got {values.type}")
    validity, offsets, data = values.buffers()[:3]
    if not values.null_count:
        validity = None
    large = pa.types.is_large_string(values.type)
    return (validity, offsets, data, values.offset, len(values), large)


def value_hashes(values: pa.Array) -> U64:
    """One 64-bit hash per value of a string array; every null gets the same one."""
    out = np.empty(len(values), dtype=np.uint64)
    if len(values):
        _native.hash_values(column_buffers(values), out)
    return out


def row_hashes(columns: Sequence[pa.Array], distinct: Sequence[DistinctEstimate]) -> U64:
    """:func:`combine_rows` of the columns' :func:`value_hashes`, in one compiled pass
    that also folds each column's values into its distinct estimate."""
    n = len(columns[0])
    out = np.empty(n, dtype=np.uint64)
    if n:
        _native.hash_rows(
            [column_buffers(c) for c in columns], [d.registers for d in distinct], out
        )
    return out


def _fixed_width_bits(values: pa.Array) -> U64:
    """The raw bits of each value of a fixed-width array, widened to 64 bits."""
    typ = values.type
    if pa.types.is_boolean(typ):
        bitmap = np.frombuffer(values.buffers()[1], dtype=np.uint8)
        bits = np.unpackbits(bitmap, bitorder="little")
        return bits[values.offset : values.offset + len(values)].astype(np.uint64)
    width = typ.byte_width
    raw = np.frombuffer(values.buffers()[1], dtype=np.uint8)
    raw = raw[values.offset * width : (values.offset + len(values)) * width]
    if width == 16:
        halves = raw.view("<u8").reshape(-1, 2)
        out: U64 = halves[:, 0] * _M1
        out ^= halves[:, 1]
        return out
    dtype = {1: "<u1", 2: "<u2", 4: "<u4", 8: "<u8"}[width]
    return raw.view(dtype).astype(np.uint64)


def typed_hashes(values: pa.Array) -> U64:
    """One 64-bit hash per value of any output column (strings, numbers, dates, ...).

    Equal values of the same type hash alike; nulls share one hash.
    """
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        return value_hashes(values)
    h = fmix(_fixed_width_bits(values) ^ _M2)
    valid = valid_mask(values)
    if valid is not None:
        h[~valid] = _NULL
    return h


def combine_rows(column_hashes: Sequence[U64]) -> U64:
    """Order-sensitive combination of per-column hashes into one hash per row."""
    row = column_hashes[0].copy()
    for h in column_hashes[1:]:
        row *= _M2
        row ^= h
    return fmix(row)


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
