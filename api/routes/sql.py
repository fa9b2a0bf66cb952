"""Read-only SQL over the datasets (README: SQL); api/sql/ runs it."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..deps import SqlEngineDep
from ..errors import Unprocessable
from ..sql.service import csv_body, execute, json_body

router = APIRouter(tags=["sql"])
Format = Literal["json", "csv"]
TRUNCATED_HEADER = "X-Result-Truncated"

QUERY_HELP = (
    "one SELECT (or WITH ... SELECT); each dataset is a view named by its name (its newest "
    'ready version), "name@N" is its version N'
)


class SqlRequest(BaseModel):
    q: str = Field(min_length=1, description=QUERY_HELP)
    limit: int | None = Field(default=None, ge=1, description="rows at most (MINI_SQL__MAX_ROWS)")
    format: Format = "json"
    download: bool = False


async def _answer(request: Request, engine: SqlEngineDep, body: SqlRequest) -> Response:
    limits = engine.limits
    if len(body.q) > limits.max_query_chars:
        raise Unprocessable(
            f"the query is longer than {limits.max_query_chars} characters "
            "(MINI_SQL__MAX_QUERY_CHARS)"
        )
    limit = body.limit or limits.default_rows
    if limit > limits.max_rows:
        raise Unprocessable(f"limit: at most {limits.max_rows} rows (MINI_SQL__MAX_ROWS)")
    result = await execute(request, engine, body.q, limit)
    headers = {TRUNCATED_HEADER: "true" if result.truncated else "false"}
    if body.download:
        headers["Content-Disposition"] = f'attachment; filename="query.{body.format}"'
    if body.format == "csv":
        return Response(
            b"".join(csv_body(result)), media_type="text/csv; charset=utf-8", headers=headers
        )
    return Response(json_body(result, limit), media_type="application/json", headers=headers)


@router.get("/sql", response_model=None)
async def sql_get(
    request: Request,
    engine: SqlEngineDep,
    q: Annotated[str, Query(min_length=1, description=QUERY_HELP)],
    limit: Annotated[int | None, Query(ge=1, description="rows at most")] = None,
    format: Format = "json",
    download: bool = False,
) -> Response:
    """Run one read-only SQL query over the datasets (DuckDB).

    The answer holds the first `limit` rows (default MINI_SQL__DEFAULT_ROWS) and says
    whether there were more (`truncated`). `format=csv` answers CSV; `download=true`
    makes either an attachment.
    """
    return await _answer(
        request, engine, SqlRequest(q=q, limit=limit, format=format, download=download)
    )


@router.post("/sql", response_model=None)
async def sql_post(request: Request, engine: SqlEngineDep, body: SqlRequest) -> Response:
    """`GET /sql` with the query in a JSON body, for queries too long for a URL."""
    return await _answer(request, engine, body)
