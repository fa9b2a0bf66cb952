"""Arrow rows as JSON-ready Python values.

Columns are made JSON-safe in Arrow, not value by value in Python: a page's dates and
times become ISO 8601 text exactly as `datetime.isoformat()` writes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def _iso_column(column: Any, arrow_type: pa.DataType) -> Any | None:
    """ISO text in Arrow, or None when only Python formats this type faithfully."""
    if pa.types.is_date32(arrow_type):
        return pc.cast(column, pa.string())
    if pa.types.is_timestamp(arrow_type) and arrow_type.unit == "us":
        if arrow_type.tz not in (None, "UTC", "+00:00"):
            return None
        # With microseconds, %S prints "SS.ffffff"; isoformat() omits a zero fraction.
        text = pc.strftime(column, format="%Y-%m-%dT%H:%M:%S")
        text = pc.replace_substring_regex(text, pattern=r"\.000000$", replacement="")
        if arrow_type.tz is not None:
            text = pc.binary_join_element_wise(text, "+00:00", "")
        return text
    return None


def json_safe(table: pa.Table) -> pa.Table:
    """Strict JSON has no NaN or Infinity (they become null) and no decimals (strings keep
    their exact digits)."""
    columns = list(table.columns)
    changed = False
    for i, f in enumerate(table.schema):
        column = columns[i]
        if pa.types.is_floating(f.type):
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, f.type))
        elif pa.types.is_decimal(f.type):
            column = pc.cast(column, pa.string())
        else:
            iso = _iso_column(column, f.type)
            if iso is None:
                continue
            column = iso
        columns[i] = column
        changed = True
    # One new table at the end: set_column per column copied the whole schema each
    # time, quadratic in the width (2,000 float columns).
    return pa.table(columns, names=table.column_names) if changed else table


def rows(table: pa.Table) -> list[dict[str, Any]]:
    table = json_safe(table)
    out: list[dict[str, Any]] = table.to_pylist()
    left = [
        f.name
        for f in table.schema
        if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type) or pa.types.is_time(f.type)
    ]
    if left:
        for row in out:
            for name in left:
                value = row[name]
                if isinstance(value, dt.date | dt.time):
                    row[name] = value.isoformat()
    return out
