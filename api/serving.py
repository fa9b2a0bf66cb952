"""The serving vocabulary shared by the JSON API, the exports and the UI.

The query engine itself lives in `api.query`.
"""

from __future__ import annotations

import pyarrow as pa

DEFAULT_LIMIT = 100
MAX_LIMIT = 10_000
# A page also holds at most this many values (rows times columns): MAX_LIMIT rows of a
# 2,000-column file would be 20 million values, gigabytes of Python objects and ~450 MB
# of JSON. Up to 50 columns a page can still have MAX_LIMIT rows.
MAX_PAGE_VALUES = 500_000


def page_limit(limit: int, columns: int) -> int:
    """The rows a page of `columns` columns holds when `limit` are asked for."""
    return max(1, min(limit, MAX_PAGE_VALUES // max(columns, 1)))


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
