"""Query-string text as a value of a column's type; text that does not fit is a 422."""

from __future__ import annotations

import datetime as dt
import decimal
import math
import re
from typing import Any

import pyarrow as pa

from ..errors import Unprocessable
from ..serving import column_type

_INT = re.compile(r"^[+-]?[0-9]+$")
_FLOAT = re.compile(r"^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$")
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def _int(text: str) -> int:
    if not _INT.match(text):
        raise ValueError("not an integer")
    value = int(text)
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError("out of the 64-bit integer range")
    return value


def _float(text: str) -> float:
    if not _FLOAT.match(text):
        raise ValueError("not a number")
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("out of range")
    return value


def _decimal(text: str) -> decimal.Decimal:
    if not _FLOAT.match(text):
        raise ValueError("not a decimal number")
    return decimal.Decimal(text)


def _bool(text: str) -> bool:
    lowered = text.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError("not true or false")


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def _timestamp(text: str, arrow_type: pa.TimestampType) -> dt.datetime:
    # A date alone means midnight; any single character may separate date and time.
    value = dt.datetime.fromisoformat(text)
    if arrow_type.tz is None:
        if value.tzinfo is not None:
            # Wall-clock times with no zone cannot be compared with an instant.
            raise ValueError("the column has no time zone; give the time without an offset")
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC)


def parse_value(column: str, arrow_type: pa.DataType, text: str) -> Any:
    """`text` as a Python value comparable with the column's Parquet statistics."""
    kind = column_type(arrow_type)
    try:
        if kind == "int":
            return _int(text.strip())
        if kind == "float":
            return _float(text.strip())
        if kind == "decimal":
            return _decimal(text.strip())
        if kind == "bool":
            return _bool(text.strip())
        if kind == "date":
            return _date(text.strip())
        if kind == "timestamp":
            return _timestamp(text.strip(), arrow_type)
    except (ValueError, decimal.InvalidOperation) as exc:
        raise Unprocessable(
            f"column {column!r} holds {kind} values; {text!r} is not one ({exc})"
        ) from None
    return text


def to_scalar(value: Any, arrow_type: pa.DataType) -> pa.Scalar:
    if pa.types.is_decimal(arrow_type):
        # Comparing at the column's own scale would round the value first.
        return pa.scalar(value)
    return pa.scalar(value, type=arrow_type)
