"""Read-only SQL over the datasets (README: SQL); api/sql/ runs it."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from core.catalog import Catalog

from ..deps import CatalogDep, SqlEngineDep
from ..errors import ServiceError
from ..openapi import EXAMPLE_DATASET
from ..sql.engine import quote_identifier
from ..sql.service import body as result_body
from ..sql.service import cell_text, check_request, csv_body, execute, json_body
from .ui import templates

router = APIRouter(tags=["sql"])
Format = Literal["json", "csv"]
TRUNCATED_HEADER = "X-Result-Truncated"
# The SQL page lists this many of the most recent datasets with a ready version.
PAGE_NAMES = 50
PLAIN_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

QUERY_HELP = (
    "one SELECT (or WITH ... SELECT); each dataset is a view named by its name (its newest "
    'ready version), "name@N" is its version N'
)


# The docs' example dataset (api/openapi.py), so the example runs.
EXAMPLE_QUERY = f"SELECT count(*) AS n FROM {EXAMPLE_DATASET}"


class SqlRequest(BaseModel):
    q: str = Field(min_length=1, description=QUERY_HELP, examples=[EXAMPLE_QUERY])
    limit: int | None = Field(default=None, ge=1, description="rows at most (MINI_SQL__MAX_ROWS)")
    format: Format = "json"
    download: bool = False


async def _answer(request: Request, engine: SqlEngineDep, body: SqlRequest) -> Response:
    limit = check_request(engine.limits, body.q, body.limit)
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
    q: Annotated[str, Query(min_length=1, description=QUERY_HELP, examples=[EXAMPLE_QUERY])],
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


def _table_names(catalog: Catalog) -> tuple[list[str], bool]:
    """How the page's list names the ready datasets in SQL (quoted when they must be)."""
    families, total = catalog.families(limit=PAGE_NAMES)
    names = [f.name for f in families if f.latest_ready is not None]
    shown = [n if PLAIN_IDENTIFIER.match(n) else quote_identifier(n) for n in names]
    return shown, total > PAGE_NAMES


@router.get("/ui/sql", include_in_schema=False, response_class=HTMLResponse)
async def sql_page(
    request: Request,
    engine: SqlEngineDep,
    catalog: CatalogDep,
    q: Annotated[str, Query()] = "",
) -> Response:
    """The SQL page: the form, and with `q` its result (rendered here, no script needed)."""
    context: dict[str, Any] = {"active": "sql", "query": q, "limits": engine.limits}
    status = 200
    if q.strip():
        try:
            limit = check_request(engine.limits, q, None)
            answer = result_body(await execute(request, engine, q, limit), limit)
            answer["cells"] = [[cell_text(v) for v in row] for row in answer["rows"]]
            context["result"] = answer
        except ServiceError as exc:
            context["error"] = {"code": exc.code, "message": exc.message}
            status = exc.status_code
    names, more = await anyio.to_thread.run_sync(_table_names, catalog)
    context |= {"names": names, "more_names": more}
    return templates.TemplateResponse(
        request, "sql.html", context, status_code=status, headers={"Cache-Control": "no-store"}
    )
