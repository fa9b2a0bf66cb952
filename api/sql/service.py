"""A query from a request: run in a worker thread, interrupted at its deadline or when
the client leaves, and its result as JSON or CSV."""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import time
from collections.abc import Iterator
from typing import Any

import anyio
import orjson
import pyarrow as pa
import pyarrow.compute as pc
from starlette.requests import Request

from core.settings import SqlSettings

from ..errors import Unprocessable
from ..limits import watched
from ..query.export import csv_chunks
from ..query.render import rows
from .engine import SqlEngine, SqlResult
from .errors import SqlError

WATCH_SECONDS = 0.1


async def execute(request: Request, engine: SqlEngine, query: str, limit: int) -> SqlResult:
    with engine.slot():
        job = engine.job()

        async def watch(scope: anyio.CancelScope) -> None:
            while not scope.cancel_called:
                if await request.is_disconnected():
                    job.stop("gone")
                    return
                if time.monotonic() > job.deadline:
                    job.stop("timeout")
                    return
                await anyio.sleep(WATCH_SECONDS)

        return await watched(lambda: engine.run(query, limit, job), watch)


def _default(value: Any) -> Any:
    """Values orjson has no JSON for: text that keeps them exact."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta | dt.date | dt.time):
        return str(value)
    return str(value)


def _narrow_hugeints(table: pa.Table, types: list[str]) -> pa.Table:
    """SUM and COUNT of integers are HUGEINT, which Arrow holds as a decimal (JSON text);
    as JSON numbers when they fit in 64 bits, as they nearly always do."""
    for i, kind in enumerate(types):
        if kind in ("HUGEINT", "UHUGEINT"):
            try:
                column = pc.cast(table.column(i), pa.int64())
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                continue
            table = table.set_column(i, pa.field(table.field(i).name, pa.int64()), column)
    return table


def check_request(limits: SqlSettings, query: str, limit: int | None) -> int:
    """The row limit the request gets; 422 for a query or limit past the settings."""
    if len(query) > limits.max_query_chars:
        raise Unprocessable(
            f"the query is longer than {limits.max_query_chars} characters "
            "(MINI_SQL__MAX_QUERY_CHARS)"
        )
    wanted = limit or limits.default_rows
    if wanted > limits.max_rows:
        raise Unprocessable(f"limit: at most {limits.max_rows} rows (MINI_SQL__MAX_ROWS)")
    return wanted


def body(result: SqlResult, limit: int) -> dict[str, Any]:
    """The answer's JSON: rows as arrays, in the order of `columns`."""
    table = _narrow_hugeints(result.table, [t for _, t in result.columns])
    # Positional names: a result may repeat a column name (SELECT 1 AS a, 2 AS a).
    table = table.rename_columns([f"c{i}" for i in range(table.num_columns)])
    values = [list(row.values()) for row in rows(table)]
    return {
        "columns": [{"name": n, "type": t} for n, t in result.columns],
        "rows": values,
        "row_count": len(values),
        "truncated": result.truncated,
        "limit": limit,
        "datasets": [
            {
                "table": v.table,
                "name": v.served.name,
                "version": v.served.version,
                "id": v.served.id,
            }
            for v in result.views
        ],
        "elapsed_ms": round(result.elapsed_ms, 1),
    }


def json_body(result: SqlResult, limit: int) -> bytes:
    return orjson.dumps(body(result, limit), default=_default)


def cell_text(value: Any) -> str | None:
    """A JSON value as the page's table shows it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    return orjson.dumps(value, default=_default).decode()


def csv_body(result: SqlResult) -> Iterator[bytes]:
    table = result.table
    try:
        return iter(list(csv_chunks([table], table.schema)))
    except (pa.ArrowNotImplementedError, pa.ArrowInvalid) as exc:
        raise SqlError(
            f"this result cannot be written as CSV ({exc}); cast nested columns to text, "
            "or download JSON"
        ) from None
