"""Arrow rows as JSON-ready Python values."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc


def json_safe(table: pa.Table) -> pa.Table:
    """Strict JSON has no NaN or Infinity (they become null) and no decimals (strings keep
    their exact digits); dates and times are written by `rows` as ISO 8601."""
    for i, f in enumerate(table.schema):
        column = table.column(i)
        if pa.types.is_floating(f.type):
            column = pc.if_else(pc.is_finite(column), column, pa.scalar(None, f.type))
        elif pa.types.is_decimal(f.type):
            column = pc.cast(column, pa.string())
        else:
            continue
        table = table.set_column(i, pa.field(f.name, column.type), column)
    return table


def rows(table: pa.Table) -> list[dict[str, Any]]:
    table = json_safe(table)
    temporal = [
        f.name
        for f in table.schema
        if pa.types.is_timestamp(f.type) or pa.types.is_date(f.type) or pa.types.is_time(f.type)
    ]
    out: list[dict[str, Any]] = table.to_pylist()
    if temporal:
        for row in out:
            for name in temporal:
                value = row[name]
                if isinstance(value, dt.date | dt.time):
                    row[name] = value.isoformat()
    return out
