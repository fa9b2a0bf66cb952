"""The browser UI: server-rendered pages (Jinja2) plus the column stats their charts draw."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from core import keys
from core.catalog import Dataset
from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore

from ..answers import identity_headers
from ..deps import CatalogDep, ContainerDep, VersionQuery
from ..errors import NotFound

LIST_PAGE_SIZE = 50
RETRY_AFTER_SECONDS = "2"


def _filesize(value: int | None) -> str:
    if value is None:
        return "—"
    size = float(value)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:,.0f} {unit}" if unit == "B" else f"{size:,.1f} {unit}"
        size /= 1000
    return f"{size:,.1f} TB"


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _seconds_between(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return "—"
    seconds = (end - start).total_seconds()
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _when(value: datetime | None) -> str:
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def _delimiter(value: str | None) -> str:
    names = {"\t": "tab", " ": "space", ",": ", (comma)", ";": "; (semicolon)", "|": "| (pipe)"}
    return "—" if value is None else names.get(value, value)


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("api", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        filesize=_filesize, number=_number, when=_when, delimiter=_delimiter, tojson_pretty=_pretty
    )
    env.globals["seconds_between"] = _seconds_between
    return env


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


templates = Jinja2Templates(env=_environment())
router = APIRouter(include_in_schema=False)


def _load_report(store: ObjectStore, settings: Settings, dataset: Dataset) -> dict[str, Any] | None:
    if not dataset.is_final:
        return None
    try:
        with store.open(settings.storage.processed_bucket, keys.report_key(dataset.id)) as fh:
            report: dict[str, Any] = json.loads(fh.read())
            return report
    except ObjectNotFound:
        return None


def _running(items: list[Dataset]) -> int:
    return sum(1 for d in items if not d.is_final)


@router.get("/ui")
async def ui_home() -> RedirectResponse:
    return RedirectResponse("/ui/datasets", status_code=307)


@router.get("/ui/datasets", response_class=HTMLResponse)
async def datasets_page(
    request: Request,
    catalog: CatalogDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = LIST_PAGE_SIZE,
    fragment: Annotated[str | None, Query(pattern="^rows$")] = None,
) -> Response:
    """The dataset list; `?fragment=rows` is just its table body, for the page's auto-refresh."""
    families, total = await anyio.to_thread.run_sync(
        lambda: catalog.families(offset=offset, limit=limit)
    )
    items = [f.latest for f in families]
    context = {
        "families": families,
        "items": items,
        "total": total,
        "offset": offset,
        "limit": limit,
        "running": _running(items),
        "active": "datasets",
    }
    name = "_dataset_rows.html" if fragment else "datasets.html"
    return templates.TemplateResponse(request, name, context, headers={"Cache-Control": "no-store"})


@router.get("/ui/datasets/{dataset_id}", response_class=HTMLResponse)
async def dataset_page(
    request: Request,
    dataset_id: str,
    container: ContainerDep,
    version: VersionQuery = None,
    fragment: Annotated[str | None, Query(pattern="^report$")] = None,
) -> Response:
    """One dataset: summary, rows table, column charts, report, rejects and logs.

    `?fragment=report` is the rendered report alone, which the upload page shows.
    """
    try:
        served = await anyio.to_thread.run_sync(
            lambda: container.resolver.resolve(dataset_id, version)
        )
    except NotFound:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"dataset_id": dataset_id, "active": "datasets"},
            status_code=404,
        )
    store, settings = container.store, container.settings
    dataset = served.dataset
    report = await anyio.to_thread.run_sync(lambda: _load_report(store, settings, dataset))
    members = await anyio.to_thread.run_sync(lambda: container.catalog.versions(served.name))
    context = {
        "served": served,
        "dataset": dataset,
        "versions": members,
        "report": report,
        "active": "datasets",
    }
    name = "_report.html" if fragment else "dataset.html"
    return templates.TemplateResponse(
        request,
        name,
        context,
        headers={"Cache-Control": "no-store", **identity_headers(served)},
    )
