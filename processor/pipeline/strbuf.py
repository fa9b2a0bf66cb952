"""Zero-copy views of Arrow string arrays: numpy views for checks pyarrow has no kernel
for, and the buffer tuples the compiled kernels (native/) take; and the way back from a
kernel's numpy output to an Arrow array with the input's nulls."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _native

U8 = npt.NDArray[np.uint8]
# int32 for string arrays, int64 for large_string ones.
Offsets = npt.NDArray[np.int32] | npt.NDArray[np.int64]


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


def lengths(values: pa.Array) -> Offsets:
    """Byte length of each value (int32, or int64 for large strings)."""
    if len(values) == 0:
        return np.zeros(0, dtype=np.int64)
    return np.diff(_raw_offsets(values))


def column_buffers(values: pa.Array) -> _native.Column:
    """A string array as the buffer tuple the compiled kernels take (no copy)."""
    if not (pa.types.is_string(values.type) or pa.types.is_large_string(values.type)):
        raise TypeError(f"expected strings, got {values.type}")
    validity, offsets, data = values.buffers()[:3]
    if not values.null_count:
        validity = None
    large = pa.types.is_large_string(values.type)
    return (validity, offsets, data, values.offset, len(values), large)


def with_nulls_of(values: pa.Array, out: npt.NDArray[Any], type_: pa.DataType) -> pa.Array:
    """``out`` (one slot per value of ``values``) as an Arrow array of ``type_``, null
    where ``values`` is."""
    if not values.null_count:
        return pa.array(out, type=type_)
    nulls = np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    return pa.array(out, type=type_, mask=nulls)
