"""Zero-copy numpy views of Arrow string arrays, for checks pyarrow has no kernel for."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pyarrow as pa

I64 = npt.NDArray[np.int64]
U8 = npt.NDArray[np.uint8]
# int32 for string arrays, int64 for large_string ones.
Offsets = npt.NDArray[np.int32] | npt.NDArray[np.int64]

_ZERO, _NINE, _MINUS = ord("0"), ord("9"), ord("-")


def _raw_offsets(values: pa.Array) -> Offsets:
    """The array's own offsets (int32, or int64 for large strings): a view, no copy."""
    buffer, count = values.buffers()[1], len(values) + 1
    if pa.types.is_large_string(values.type) or pa.types.is_large_binary(values.type):
        return np.frombuffer(buffer, dtype=np.int64, count=count, offset=values.offset * 8)
    return np.frombuffer(buffer, dtype=np.int32, count=count, offset=values.offset * 4)


def string_buffers(values: pa.Array) -> tuple[Offsets, U8]:
    """(offsets rebased to 0, bytes of the values) of a string or large_string array.

    Views of the Arrow buffers when the array starts at its buffers' start (almost
    always): these checks run on every column of every batch, and copying the offsets
    each time cost more than most of the checks themselves.
    """
    if len(values) == 0:
        return np.zeros(1, dtype=np.int64), np.zeros(0, dtype=np.uint8)
    offsets = _raw_offsets(values)
    lo, hi = int(offsets[0]), int(offsets[-1])
    if lo:
        offsets = offsets - lo
    if hi == lo:
        return offsets, np.zeros(0, dtype=np.uint8)
    data = np.frombuffer(values.buffers()[2], dtype=np.uint8, count=hi - lo, offset=lo)
    return offsets, data


def value_bytes(values: pa.Array) -> U8:
    """The bytes of all values (and of null slots), without looking at the offsets."""
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.uint8)
    offsets = _raw_offsets(values)
    lo, hi = int(offsets[0]), int(offsets[n])
    if hi == lo:
        return np.zeros(0, dtype=np.uint8)
    return np.frombuffer(values.buffers()[2], dtype=np.uint8, count=hi - lo, offset=lo)


def any_leading_zero(values: pa.Array) -> bool:
    """True if a value looks like "0N..." or "-0N..." (N a digit): an identifier such
    as "007" or "01310-100", never a number to convert."""
    offsets, data = string_buffers(values)
    if data.size == 0:
        return False
    padded = np.concatenate((data, np.zeros(3, dtype=np.uint8)))
    starts, lengths = offsets[:-1], np.diff(offsets)
    if values.null_count:
        lengths = np.where(np.asarray(values.is_valid().to_numpy(zero_copy_only=False)), lengths, 0)
    b0, b1, b2 = padded[starts], padded[starts + 1], padded[starts + 2]
    digit1 = (b1 >= _ZERO) & (b1 <= _NINE)
    digit2 = (b2 >= _ZERO) & (b2 <= _NINE)
    plain = (lengths > 1) & (b0 == _ZERO) & digit1
    negative = (lengths > 2) & (b0 == _MINUS) & (b1 == _ZERO) & digit2
    return bool(np.any(plain | negative))


def valid_buffers(values: pa.Array) -> tuple[Offsets, U8]:
    """Like string_buffers, but the caller promises there are no nulls (whose slots may
    still hold bytes, e.g. a null token)."""
    if values.null_count:
        raise ValueError("array has nulls")
    return string_buffers(values)


def only_bytes(values: pa.Array, allowed: bytes) -> bool:
    """Whether every byte of every value is one of ``allowed``; no nulls allowed."""
    if values.null_count:
        raise ValueError("array has nulls")
    return not value_bytes(values).tobytes().translate(None, allowed)


def contains_any_byte(values: pa.Array, chars: bytes) -> bool:
    """Whether any value contains one of the ASCII ``chars``; values must have no nulls."""
    if values.null_count:
        raise ValueError("array has nulls")
    raw = value_bytes(values).tobytes()
    return any(bytes((c,)) in raw for c in chars)


def data_has_any_byte(values: pa.Array, chars: bytes) -> bool:
    """Whether the value bytes contain one of ``chars``. Bytes held by null slots count
    too, so this is a cheap pre-check that may say yes for nothing, never a no for
    something."""
    raw = value_bytes(values).tobytes()
    return any(bytes((c,)) in raw for c in chars)


def lengths(values: pa.Array) -> Offsets:
    """Byte length of each value (int32, or int64 for large strings)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.diff(_raw_offsets(values))


def edge_bytes(values: pa.Array) -> tuple[U8, U8, U8]:
    """First, second and last byte of each value (0 past the end); no nulls allowed."""
    offsets, data = valid_buffers(values)
    padded = np.concatenate((data, np.zeros(2, dtype=np.uint8)))
    starts, ends = offsets[:-1], offsets[1:]
    size = ends - starts
    first = np.where(size > 0, padded[starts], 0).astype(np.uint8)
    second = np.where(size > 1, padded[starts + 1], 0).astype(np.uint8)
    last = np.where(size > 0, padded[np.maximum(ends - 1, 0)], 0).astype(np.uint8)
    return first, second, last
