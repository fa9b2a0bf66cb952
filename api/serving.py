"""Pages of rows from a dataset's Parquet file, reading only the row groups needed."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import Unprocessable

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000


def column_type(arrow_type: pa.DataType) -> str:
    """Our type vocabulary, as the processor infers it."""
    if pa.types.is_boolean(arrow_type):
        return "bool"
    if pa.types.is_integer(arrow_type):
        return "int"
    if pa.types.is_floating(arrow_type):
        return "float"
    if pa.types.is_decimal(arrow_type):
        return "decimal"
    if pa.types.is_date(arrow_type):
        return "date"
    if pa.types.is_timestamp(arrow_type):
        return "timestamp"
    return "string"


@dataclass(frozen=True)
class Page:
    columns: list[dict[str, str]]
    total_rows: int
    rows: list[dict[str, Any]]


def _json_safe(table: pa.Table) -> pa.Table:
    # Strict JSON has no NaN or Infinity; they become null.
    for i, field in enumerate(table.schema):
        if pa.types.is_floating(field.type):
            col = table.column(i)
            finite = pc.is_finite(col)
            table = table.set_column(i, field, pc.if_else(finite, col, pa.scalar(None, field.type)))
    return table


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def read_page(source: BinaryIO, *, offset: int, limit: int, columns: list[str] | None) -> Page:
    parquet = pq.ParquetFile(source)
    schema = parquet.schema_arrow
    names = schema.names
    if columns:
        unknown = [c for c in columns if c not in names]
        if unknown:
            raise Unprocessable(f"unknown column(s): {', '.join(unknown)}")
    selected = columns or names
    meta = parquet.metadata
    total = meta.num_rows
    groups: list[int] = []
    skip = 0
    start = 0
    for i in range(meta.num_row_groups):
        n = meta.row_group(i).num_rows
        end = start + n
        if end > offset and start < offset + limit:
            if not groups:
                skip = offset - start
            groups.append(i)
        start = end
    if groups:
        table = parquet.read_row_groups(groups, columns=selected).slice(skip, limit)
    else:
        table = schema.empty_table().select(selected)
    table = _json_safe(table)
    rows = [{k: _jsonable(v) for k, v in row.items()} for row in table.to_pylist()]
    cols = [{"name": f.name, "type": column_type(f.type)} for f in table.schema]
    return Page(columns=cols, total_rows=total, rows=rows)
