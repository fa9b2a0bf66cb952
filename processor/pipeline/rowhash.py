"""64-bit hashes of string values and of whole rows, computed with numpy straight from
the Arrow buffers, and a HyperLogLog distinct-count estimate built on them.

A value's hash depends on its bytes and length only (so it is the same in every batch);
a row's hash combines its values' hashes in column order. These hashes only *find*
duplicate candidates: dedup.py compares candidate rows byte for byte before dropping
one, so a collision costs a comparison, never a row.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .strbuf import string_buffers

U64 = npt.NDArray[np.uint64]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
_NULL = np.uint64(0xA4093822299F31D0)
_S29, _S33 = np.uint64(29), np.uint64(33)
# _MASKS[k] keeps the k low bytes of a little-endian word (the bytes of a short tail).
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


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


def _mix_words(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> U64:
    """Hash of each ``data[offsets[i]:offsets[i+1]]``, 8 bytes per step.

    Every value takes a step while most values still have bytes left (masked reads
    cost less than bookkeeping); the long tail continues on the remaining ones only.
    """
    n = len(offsets) - 1
    lengths = np.diff(offsets)
    padded = np.zeros(data.size + 8, dtype=np.uint8)
    padded[: data.size] = data
    words = np.ndarray((data.size + 1,), dtype="<u8", buffer=padded, strides=(1,))
    last = data.size
    h = lengths.astype(np.uint64) * _M2
    start = offsets[:-1].copy()
    left = lengths.copy()
    active = left > 0
    while True:
        word = words[np.minimum(start, last)]
        word &= _MASKS[np.clip(left, 0, 8)]
        word ^= h
        word *= _M1
        word ^= word >> _S29
        # Values already finished keep their state, so a hash never depends on
        # the other values of the batch.
        np.copyto(h, word, where=active)
        left -= 8
        start += 8
        np.greater(left, 0, out=active)
        busy = int(np.count_nonzero(active))
        if busy == 0:
            return fmix(h)
        if 2 * busy < n:
            break
    idx = np.flatnonzero(left > 0)
    hs, start, left = h[idx], start[idx], left[idx]
    while idx.size:
        word = words[start]
        word &= _MASKS[np.minimum(left, 8)]
        hs ^= word
        hs *= _M1
        hs ^= hs >> _S29
        h[idx] = hs
        left -= 8
        start += 8
        more = left > 0
        idx, hs, start, left = idx[more], hs[more], start[more], left[more]
    return fmix(h)


def value_hashes(values: pa.Array) -> U64:
    """One 64-bit hash per value of a string array; every null gets the same one."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.uint64)
    h = _mix_words(*string_buffers(values))
    valid = valid_mask(values)
    if valid is not None:
        h[~valid] = _NULL
    return h


def hashes_via_dictionary(values: pa.Array) -> tuple[U64, U64, int]:
    """(one hash per value, the hashes of the distinct non-null values, how many)

    The same hashes as :func:`value_hashes`, but each distinct value is hashed once:
    for columns that repeat (cities, flags, codes) pyarrow's dictionary encoding costs
    a third of hashing every value in numpy.
    """
    encoded = pc.dictionary_encode(values)
    unique = value_hashes(encoded.dictionary)
    indices = encoded.indices
    if indices.null_count:
        index = np.asarray(indices.fill_null(0).to_numpy(zero_copy_only=False), dtype=np.intp)
        h = unique[index] if unique.size else np.zeros(len(values), dtype=np.uint64)
        valid = valid_mask(indices)
        assert valid is not None
        h[~valid] = _NULL
    else:
        h = unique[np.asarray(indices.to_numpy(zero_copy_only=False), dtype=np.intp)]
    return h, unique, len(unique)


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
    """HyperLogLog over 64-bit value hashes (2^12 registers, about 1.6% error).

    Registers only grow, so values whose rank cannot raise theirs are filtered out
    with one vectorised comparison before the (slower) scatter.
    """

    P = 12
    _SHIFT = np.uint64(64 - P)
    _GUARD = np.uint64(1 << (P - 1))

    def __init__(self) -> None:
        self.registers = np.zeros(1 << self.P, dtype=np.uint8)

    def add(self, hashes: U64, valid: npt.NDArray[np.bool_] | None = None) -> None:
        if valid is not None:
            hashes = hashes[valid]
        if not hashes.size:
            return
        rest = (hashes << np.uint64(self.P)) | self._GUARD
        floor = int(self.registers.min())
        if floor:
            # rank > floor needs floor leading zeros: one comparison drops the rest.
            lucky = rest < np.uint64(1 << (64 - floor))
            hashes, rest = hashes[lucky], rest[lucky]
            if not hashes.size:
                return
        index = (hashes >> self._SHIFT).astype(np.intp)
        # frexp's exponent is bit_length; rank = leading zeros + 1 = 65 - bit_length.
        _, exponent = np.frexp(rest.astype(np.float64))
        rank = (65 - exponent).astype(np.uint8)
        higher = rank > self.registers[index]
        if higher.any():
            np.maximum.at(self.registers, index[higher], rank[higher])

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
