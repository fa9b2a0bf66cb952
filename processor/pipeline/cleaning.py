"""Per-value cleaning steps on Arrow string arrays (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from .strbuf import column_buffers, value_bytes


@dataclass(frozen=True)
class NullTokens:
    encoded: tuple[bytes, ...]  # UTF-8, each once


def token_set(tokens: Sequence[str]) -> NullTokens:
    return NullTokens(tuple(sorted({token.encode() for token in tokens})))


def _scan(values: pa.Array, tokens: NullTokens, trimmed: bool) -> tuple[int, int, pa.Array | None]:
    """(values with whitespace to trim, values equal to a token, mask of the latter
    or None when there is none), comparing each value with its whitespace trimmed or
    exactly as it is. One compiled pass over the values (native/text.c), for every column
    of every batch."""
    if not len(values):
        return 0, 0, None
    hits = np.empty(len(values), dtype=np.uint8)
    to_trim, nulled = _native.clean_scan(
        column_buffers(values), list(tokens.encoded), hits, trimmed
    )
    return to_trim, nulled, pa.array(hits.view(np.bool_)) if nulled else None


def trim(values: pa.Array) -> pa.Array:
    """Strip leading and trailing whitespace: what pyarrow's utf8_trim_whitespace
    strips (NBSP and the other Unicode spaces included), for any text."""
    n = len(values)
    if not n:
        return values
    large = pa.types.is_large_string(values.type)
    offsets = np.empty(n + 1, dtype=np.int64 if large else np.int32)
    data = np.empty(max(len(value_bytes(values)), 1), dtype=np.uint8)
    used = _native.trim_copy(column_buffers(values), offsets, data)
    validity = None
    if values.null_count:
        valid = values.is_valid()
        validity = (
            valid.buffers()[1] if valid.offset == 0 else pa.array(valid.to_numpy()).buffers()[1]
        )
    return pa.Array.from_buffers(
        values.type,
        n,
        [validity, pa.py_buffer(offsets), pa.py_buffer(data[:used])],
        null_count=values.null_count,
    )


@dataclass
class CleanCounts:
    tokens: NullTokens
    values_trimmed: int = 0
    values_nulled: int = 0
    empty_rows: int = 0

    @classmethod
    def for_tokens(cls, tokens: Sequence[str]) -> CleanCounts:
        return cls(token_set(tokens))


def clean_column(values: pa.Array, tokens: NullTokens) -> tuple[pa.Array, int, int]:
    """Trim, then turn null tokens into nulls: (values, how many trimmed, how many
    nulled). Pure, so columns can be cleaned in parallel.

    One compiled pass finds both; the values are copied only when some have
    whitespace to trim (most columns, most batches have none).
    """
    trimmed_count, nulled_count, hits = _scan(values, tokens, trimmed=True)
    if trimmed_count:
        values = trim(values)
    if hits is not None:
        values = set_nulls(values, hits)
    return values, trimmed_count, nulled_count


def clean_columns(columns: Sequence[pa.Array], counts: CleanCounts) -> list[pa.Array]:
    out = []
    for values in columns:
        cleaned, trimmed, nulled = clean_column(values, counts.tokens)
        counts.values_trimmed += trimmed
        counts.values_nulled += nulled
        out.append(cleaned)
    return out


def drop_empty_rows(
    columns: list[pa.Array],
) -> tuple[list[pa.Array], npt.NDArray[np.intp] | None, int]:
    """Rows with at least one value, the indexes they had (None: all kept), the count
    of rows dropped."""
    empty = all_null_rows(columns)
    if empty is None:
        return columns, None, 0
    mask = np.asarray(empty.to_numpy(zero_copy_only=False), dtype=bool)
    keep = pa.array(~mask)
    return [c.filter(keep) for c in columns], np.flatnonzero(~mask), int(mask.sum())


def nullify(values: pa.Array, tokens: NullTokens) -> pa.Array:
    """Turn values equal to one of ``tokens`` (exact, case-sensitive) into nulls."""
    _, _, hits = _scan(values, tokens, trimmed=False)
    return values if hits is None else set_nulls(values, hits)


def set_nulls(values: pa.Array, mask: pa.Array) -> pa.Array:
    """``values`` with nulls where ``mask`` is true, sharing the value buffers."""
    keep = pc.and_(pc.is_valid(values), pc.invert(mask))
    if values.offset != 0 or keep.offset != 0:
        return pc.if_else(keep, values, pa.scalar(None, values.type))
    bitmap = keep.buffers()[1]
    return pa.Array.from_buffers(values.type, len(values), [bitmap, *values.buffers()[1:]])


def all_null_rows(columns: Sequence[pa.Array]) -> pa.Array | None:
    """Mask of rows where every column is null, or None when there is no such row."""
    if not columns or any(col.null_count == 0 for col in columns):
        return None
    mask = pc.is_null(columns[0])
    for col in columns[1:]:
        mask = pc.and_(mask, pc.is_null(col))
    return mask if pc.any(mask).as_py() else None
