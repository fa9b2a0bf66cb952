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
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from .dates import to_date32
from .datewords import named_dates, slash_dates
from .infer import (
    MARKED,
    NO_WORDS,
    YES_WORDS,
    ColumnType,
    Kind,
    dm_to_iso,
    fits_format,
    fits_shape,
    kind_shapes,
    percent_body,
)
from .marked import normalise
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
    if fmt.startswith(MARKED):
        plain = normalise(values)
        if plain is None:
            raise pa.ArrowInvalid("a value is not a number with currency or sign marks")
        inner = ColumnType(kind, fmt[len(MARKED) :], ctype.precision, ctype.scale)
        return _convert(plain, inner, target)
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
    if fmt in ("named", "ymd/", "ymd/ time"):
        parsed = (
            named_dates(values) if fmt == "named" else slash_dates(values, fmt.endswith("time"))
        )
        if parsed is None:
            raise pa.ArrowInvalid(f"a value is not a {fmt} date")
        return parsed
    if kind is Kind.DATE and fmt != "iso":
        fast = to_date32(values, fmt[-1], day_first=fmt.startswith("dmy"))
        if fast is not None:
            return fast
        values = dm_to_iso(values, fmt[-1], day_first=fmt.startswith("dmy"))
    elif kind is Kind.TIMESTAMP and fmt.endswith(" time"):
        sep = fmt[3]
        values = dm_to_iso(values, sep, day_first=fmt.startswith("dmy"), with_time=True)
    return pc.cast(values, target)


# --- a type given by the version served before (schema drift, on_schema_change=pin) ---

Mask = npt.NDArray[np.bool_]


def _try_convert(values: pa.Array, parse: ColumnType, target: pa.DataType) -> pa.Array | None:
    """``values`` read as ``parse`` and stored as ``target``, or None if a value does
    not fit: not of the format as inference would have it, does not parse, or would
    change in the safe cast to ``target``."""
    if not fits_format(values, parse):
        return None
    try:
        out = _convert(values, parse, arrow_type(parse))
        if out.type != target:
            out = pc.cast(out, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return None
    return out if out.null_count == values.null_count else None


def misfits(values: pa.Array, parse: ColumnType, target: pa.DataType) -> Mask:
    """Per value: it cannot be read as ``parse`` into ``target``.

    Values that do not even look like the kind (``'k.A.'`` for a number) are found by
    one regular expression; the others are converted in halves, down to the single
    values that fail (a few conversions per misfit, none when there is none).
    """
    bad = ~fits_shape(values, kind_shapes(parse.kind))
    valid = np.asarray(values.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
    pending = [np.flatnonzero(valid & ~bad)]
    while pending:
        part = pending.pop()
        if not len(part) or _try_convert(values.take(pa.array(part)), parse, target) is not None:
            continue
        if len(part) == 1:
            bad[part[0]] = True
            continue
        middle = len(part) // 2
        pending += [part[middle:], part[:middle]]
    found: Mask = bad & valid
    return found


def convert_to(
    values: pa.Array, parse: ColumnType, target: pa.DataType, checked: bool
) -> tuple[pa.Array, Mask | None]:
    """``values`` read as ``parse`` and stored as ``target``.

    Unchecked, inference vouched for every value (as :func:`convert`). Checked, the
    type comes from an earlier version and some values may not fit it: they are
    returned as a mask (their slots null in the array), for their rows to be rejected.
    """
    if not checked:
        out = convert(values, parse)
        return (out if out.type == target else pc.cast(out, target)), None
    out = _try_convert(values, parse, target)
    if out is not None:
        return out, None
    bad = misfits(values, parse, target)
    kept = pc.if_else(pa.array(bad), pa.scalar(None, values.type), values)
    out = _try_convert(kept, parse, target)
    if out is None:
        raise RuntimeError(f"conversion to {parse} failed after removing the values that misfit")
    return out, bad
