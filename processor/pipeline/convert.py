"""Conversion of cleaned string arrays to the decided Arrow types (pure functions)."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from .infer import TRUE_TOKENS, ColumnType, Kind, dm_to_iso

_TRUE_SET = pa.array(TRUE_TOKENS)


def arrow_type(ctype: ColumnType) -> pa.DataType:
    if ctype.kind is Kind.INT:
        return pa.int64()
    if ctype.kind is Kind.FLOAT:
        return pa.float64()
    if ctype.kind is Kind.BOOL:
        return pa.bool_()
    if ctype.kind is Kind.DATE:
        return pa.date32()
    if ctype.kind is Kind.TIMESTAMP:
        return pa.timestamp("us", "UTC") if ctype.fmt == "utc" else pa.timestamp("us")
    return pa.string()


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


def _convert(values: pa.Array, ctype: ColumnType, target: pa.DataType) -> pa.Array:
    kind, fmt = ctype.kind, ctype.fmt
    if kind is Kind.STRING:
        return values
    if kind is Kind.BOOL:
        truth = pc.is_in(pc.utf8_lower(values), value_set=_TRUE_SET)
        return pc.if_else(pc.is_null(values), pa.scalar(None, pa.bool_()), truth)
    if kind is Kind.FLOAT and fmt == "grouped":
        values = pc.replace_substring(values, ",", "")
    elif kind is Kind.FLOAT and fmt == "decimal_comma":
        values = pc.replace_substring(pc.replace_substring(values, ".", ""), ",", ".")
    elif kind is Kind.DATE and fmt != "iso":
        values = dm_to_iso(values, fmt[-1], day_first=fmt.startswith("dmy"))
    return pc.cast(values, target)
