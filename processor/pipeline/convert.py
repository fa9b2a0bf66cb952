"""Conversion of cleaned string arrays to the decided Arrow types (pure functions).

Decimals: a number column becomes float64 when every value has at most 15
significant digits (a float64 then holds each of them exactly: printed back with 15
digits it is the same number); a column with longer values becomes decimal128 with
the precision and scale the file needs, so nothing is rounded; beyond 38 digits it
stays text. Percentages are parsed as exact decimals, shifted two places (12.5% is
0.125), then turned into float64 with one correct rounding.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from .dates import to_date32
from .infer import NO_WORDS, YES_WORDS, ColumnType, Kind, dm_to_iso, percent_body
from .strbuf import column_buffers, with_nulls_of

MAX_PRECISION = 38
# Float formats the compiled parser reads directly: (decimal mark, group mark, percent).
_MARKED = {
    "grouped": (".", ",", False),
    "decimal_comma": (",", ".", False),
    "percent": (".", None, True),
    "percent_comma": (",", None, True),
}


def arrow_type(ctype: ColumnType) -> pa.DataType:
    if ctype.kind is Kind.INT:
        return pa.int64()
    if ctype.kind is Kind.FLOAT:
        return pa.float64()
    if ctype.kind is Kind.DECIMAL:
        return pa.decimal128(ctype.precision, ctype.scale + _shift(ctype))
    if ctype.kind is Kind.BOOL:
        return pa.bool_()
    if ctype.kind is Kind.DATE:
        return pa.date32()
    if ctype.kind is Kind.TIMESTAMP:
        return pa.timestamp("us", "UTC") if ctype.fmt == "utc" else pa.timestamp("us")
    return pa.string()


def _shift(ctype: ColumnType) -> int:
    return 2 if ctype.fmt.startswith("percent") else 0


def convert(values: pa.Array, ctype: ColumnType) -> pa.Array:
    """Typed copy of ``values``. Inference already checked every value, so a failure
    or a value silently turned into null here is a bug and raises RuntimeError."""
    target = arrow_type(ctype)
    try:
        out = _convert(values, ctype, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise RuntimeError(f"conversion to {ctype} failed after inference: {exc}") from exc
    if out.null_count != values.null_count:
        raise RuntimeError(f"conversion to {ctype} lost values after inference")
    return out


def _plain_number_text(values: pa.Array, fmt: str) -> pa.Array:
    """Number text with "." as the only mark: what pyarrow's parsers read."""
    if fmt == "grouped":
        return pc.replace_substring(values, ",", "")
    if fmt == "decimal_comma":
        return pc.replace_substring(pc.replace_substring(values, ".", ""), ",", ".")
    if fmt == "percent":
        return percent_body(values)
    if fmt == "percent_comma":
        return pc.replace_substring(percent_body(values), ",", ".")
    return values


def booleans(values: pa.Array) -> pa.Array:
    """True for the yes words, false for the no words, nulls kept (one compiled pass)."""
    truth = np.zeros(len(values), dtype=np.uint8)
    if len(values):
        every, _ = _native.bool_words(column_buffers(values), YES_WORDS, NO_WORDS, truth)
        if not every:
            raise pa.ArrowInvalid("a value is not a yes/no word")
    return with_nulls_of(values, truth.view(np.bool_), pa.bool_())


def marked_floats(values: pa.Array, fmt: str) -> pa.Array | None:
    """float64 of "1.234,56"-like text or percentages in one compiled pass (no
    rewritten copy of the text), or None when a value needs the general path."""
    mark, group, percent = _MARKED[fmt]
    out = np.empty(len(values), dtype=np.float64)
    if len(values) and not _native.parse_numbers(
        column_buffers(values), ord(mark), ord(group) if group else -1, percent, out
    ):
        return None
    return with_nulls_of(values, out, pa.float64())


def _percent(text: pa.Array, ctype: ColumnType, target: pa.DataType) -> pa.Array:
    # A percent decimal's precision already counts the two extra places.
    digits = ctype.precision - 2 if ctype.kind is Kind.DECIMAL else MAX_PRECISION - 2
    exact = pc.cast(text, pa.decimal128(digits, ctype.scale))
    # Same unscaled integers, two more decimal places: the value divided by 100.
    shifted = exact.view(pa.decimal128(digits + 2, ctype.scale + 2))
    if ctype.kind is Kind.DECIMAL:
        return shifted
    # Through text: pyarrow's decimal-to-float cast is off by one unit in the last
    # place for about half of all values, its text parser never is.
    return pc.cast(pc.cast(shifted, pa.string()), target)


def _convert(values: pa.Array, ctype: ColumnType, target: pa.DataType) -> pa.Array:
    kind, fmt = ctype.kind, ctype.fmt
    if kind is Kind.STRING:
        return values
    if kind is Kind.BOOL:
        return booleans(values)
    if kind is Kind.FLOAT and fmt in _MARKED:
        fast = marked_floats(values, fmt)
        if fast is not None:
            return fast
    if kind in (Kind.INT, Kind.FLOAT, Kind.DECIMAL):
        text = _plain_number_text(values, fmt)
        if fmt.startswith("percent"):
            return _percent(text, ctype, target)
        return pc.cast(text, target)
    if kind is Kind.DATE and fmt != "iso":
        fast = to_date32(values, fmt[-1], day_first=fmt.startswith("dmy"))
        if fast is not None:
            return fast
        values = dm_to_iso(values, fmt[-1], day_first=fmt.startswith("dmy"))
    elif kind is Kind.TIMESTAMP and fmt.endswith(" time"):
        sep = fmt[3]
        values = dm_to_iso(values, sep, day_first=fmt.startswith("dmy"), with_time=True)
    return pc.cast(values, target)
