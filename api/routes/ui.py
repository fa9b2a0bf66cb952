"""The browser UI: server-rendered pages (Jinja2) plus the column stats their charts draw."""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime
from threading import Lock
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader, select_autoescape

from core import keys
from core.catalog import Dataset, Status
from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore

from ..column_stats import column_stats
from ..deps import CatalogDep, SettingsDep, StoreDep
from ..errors import error_response
from ..versions import find_dataset

LIST_PAGE_SIZE = 50
STATS_CACHE_SIZE = 64
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
stats_router = APIRouter(prefix="/datasets", tags=["datasets"])


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
    items, total = await anyio.to_thread.run_sync(lambda: catalog.page(offset=offset, limit=limit))
    context = {
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
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    fragment: Annotated[str | None, Query(pattern="^report$")] = None,
) -> Response:
    """One dataset: summary, rows table, column charts, report, rejects and logs.

    `?fragment=report` is the rendered report alone, which the upload page shows.
    """
    dataset = (
        await anyio.to_thread.run_sync(lambda: catalog.get(dataset_id))
        if keys.is_dataset_id(dataset_id)
        else None
    )
    if dataset is None:
        return templates.TemplateResponse(
            request,
            "not_found.html",
            {"dataset_id": dataset_id, "active": "datasets"},
            status_code=404,
        )
    report = await anyio.to_thread.run_sync(lambda: _load_report(store, settings, dataset))
    context = {"dataset": dataset, "report": report, "active": "datasets"}
    name = "_report.html" if fragment else "dataset.html"
    return templates.TemplateResponse(request, name, context, headers={"Cache-Control": "no-store"})


class _StatsCache:
    """Ready data is immutable per run; a reprocess changes finished_at, and so the key."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._lock = Lock()

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[Any, ...], value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)


_stats_cache = _StatsCache(STATS_CACHE_SIZE)


@stats_router.get("/{dataset_id}/columns/{name}/stats", response_model=None)
async def get_column_stats(
    dataset_id: str,
    name: str,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    bins: Annotated[int, Query(ge=1, le=200)] = 20,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response | dict[str, Any]:
    """A column's histogram (numbers, dates, timestamps) or its most frequent values (text).

    Counts cover the whole column, not a page. Histograms of ints and dates use
    whole-number bins closed at both ends; float and timestamp bins are
    [start, end), the last one closed at `max`.
    """
    dataset = find_dataset(catalog, dataset_id)
    if dataset.status is Status.failed:
        return error_response(
            409, "dataset_failed", f"dataset {dataset.id} failed: {dataset.error}"
        )
    if dataset.status is not Status.ready:
        return JSONResponse(
            {"id": dataset.id, "status": dataset.status.value},
            status_code=202,
            headers={"Retry-After": RETRY_AFTER_SECONDS},
        )
    key = (dataset.id, dataset.finished_at, name, bins, top)
    cached = _stats_cache.get(key)
    if cached is not None:
        return cached

    def compute() -> dict[str, Any]:
        with store.open_seekable(
            settings.storage.processed_bucket, keys.data_key(dataset.id)
        ) as fh:
            return column_stats(fh, name, bins=bins, top=top)

    stats = await anyio.to_thread.run_sync(compute)
    _stats_cache.put(key, stats)
    return stats
