"""Per-value cleaning steps on Arrow string arrays (pure functions)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from .strbuf import data_has_any_byte, is_ascii, lengths, string_buffers

# Lead bytes of the non-ASCII whitespace characters: NBSP and U+0085 (C2 xx), U+1680
# (E1), U+2000-U+205F (E2) and U+3000 (E3). ASCII whitespace is all <= 0x20.
_UNICODE_SPACE_LEADS = (0xC2, 0xE1, 0xE2, 0xE3)


def may_need_trim(data: npt.NDArray[np.uint8]) -> bool:
    """False proves no value has whitespace to trim: no byte is a space, a control
    character or the lead byte of a Unicode space. Vectorised compares over the
    bytes cost far less than looking at each value's edges."""
    if not data.size:
        return False
    if bool(np.any(data <= 0x20)):
        return True
    if not bool(np.any(data >= 0xC2)):
        return False
    return any(bool(np.any(data == lead)) for lead in _UNICODE_SPACE_LEADS)


def trim(values: pa.Array) -> pa.Array:
    """Strip leading and trailing whitespace (Unicode whitespace, NBSP included)."""
    # The ASCII kernel is ~3x faster and gives the same result on pure-ASCII data.
    if is_ascii(values):
        return pc.ascii_trim_whitespace(values)
    return pc.utf8_trim_whitespace(values)


def count_changed_lengths(before: pa.Array, after: pa.Array) -> int:
    """How many values ``trim`` shortened; comparing lengths is enough since it only cuts."""
    return int(np.count_nonzero(lengths(before) != lengths(after)))


@dataclass(frozen=True)
class NullTokens:
    values: pa.Array
    longest: int  # bytes
    # First bytes of the tokens (index 0 stands for the empty token).
    first_bytes: npt.NDArray[np.bool_] = field(default_factory=lambda: np.zeros(256, dtype=bool))


def token_set(tokens: Sequence[str]) -> NullTokens:
    unique = sorted(set(tokens))
    first = np.zeros(256, dtype=bool)
    for token in unique:
        encoded = token.encode()
        first[encoded[0] if encoded else 0] = True
    return NullTokens(
        pa.array(unique, type=pa.string()),
        max((len(t.encode()) for t in unique), default=0),
        first,
    )


def may_hold_token(
    tokens: NullTokens, sizes: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]
) -> bool:
    """Cheap pre-check: False proves no value is a null token (none is short enough,
    or no byte anywhere is the first byte of a token)."""
    if len(tokens.values) == 0 or not sizes.size:
        return False
    short = sizes <= tokens.longest
    if not bool(np.any(short)):
        return False
    if tokens.first_bytes[0] and bool(np.any(sizes == 0)):
        return True
    return any(bool(np.any(data == b)) for b in np.flatnonzero(tokens.first_bytes[1:]) + 1)


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

    Both steps are skipped, without a copy, when a vectorised look at the bytes proves
    they would change nothing (most columns, most batches).
    """
    trimmed_count = nulled_count = 0
    offsets, data = string_buffers(values)
    if may_need_trim(data):
        trimmed = trim(values)
        sizes = lengths(trimmed)
        trimmed_count = int(np.count_nonzero(sizes != np.diff(offsets)))
        if trimmed_count:
            values = trimmed
            offsets, data = string_buffers(values)
    if may_hold_token(tokens, np.diff(offsets), data):
        before = values.null_count
        values = nullify(values, tokens)
        nulled_count = values.null_count - before
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
    if len(tokens.values) == 0 or len(values) == 0:
        return values
    # Null tokens are short; most columns have no value that short, which a length
    # check (offsets only) proves far faster than a hash lookup of every value.
    if not np.any(lengths(values) <= tokens.longest):
        return values
    hit = pc.is_in(values, value_set=tokens.values)
    if not pc.any(hit).as_py():
        return values
    return set_nulls(values, hit)


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


def line_breaks_per_row(columns: Sequence[pa.Array]) -> np.ndarray:
    """Line breaks (CRLF, CR or LF) inside the raw values of each row."""
    total = np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
    for col in columns:
        if not data_has_any_byte(col, b"\r\n"):
            continue
        counts = pc.count_substring_regex(col, "\r\n|\r|\n")
        total += np.asarray(pc.fill_null(counts, 0).to_numpy(zero_copy_only=False), np.int64)
    return total
