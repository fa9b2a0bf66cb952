"""The serving vocabulary shared by the JSON API, the exports and the UI.

The query engine itself lives in `api.query`.
"""

from __future__ import annotations

import pyarrow as pa

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
