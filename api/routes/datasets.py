from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any, BinaryIO, Literal
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from core import keys
from core.catalog import Dataset
from core.storage import ObjectNotFound

from ..deps import CatalogDep, ContainerDep, SettingsDep, StoreDep
from ..errors import NotFound
from ..lifecycle import delete, reprocess
from ..query.service import HotContainerDep, download_response, page_response
from ..runners.logs import load_logs
from ..serving import DEFAULT_LIMIT, MAX_LIMIT
from ..versions import find_dataset, versions_body
from .links import dataset_links

router = APIRouter(prefix="/datasets", tags=["datasets"])

LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 1000
RETRY_AFTER_SECONDS = "2"


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def summary(dataset: Dataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "filename": dataset.filename,
        "status": dataset.status.value,
        "error": dataset.error,
        "size_bytes": dataset.size_bytes,
        "sha256": dataset.sha256,
        "rows_in": dataset.rows_in,
        "rows_out": dataset.rows_out,
        "rows_rejected": dataset.rows_rejected,
        "created_at": _iso(dataset.created_at),
        "started_at": _iso(dataset.started_at),
        "finished_at": _iso(dataset.finished_at),
        "links": dataset_links(dataset.id),
    }


def _pending(dataset: Dataset) -> JSONResponse:
    return JSONResponse(
        {"id": dataset.id, "status": dataset.status.value},
        status_code=202,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def _next_link(path: str, params: dict[str, Any]) -> str:
    return f"{path}?{urlencode({k: v for k, v in params.items() if v is not None})}"


@router.get("")
async def list_datasets(
    catalog: CatalogDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX_LIMIT)] = LIST_DEFAULT_LIMIT,
) -> dict[str, Any]:
    """All datasets, newest first."""
    items, total = await anyio.to_thread.run_sync(lambda: catalog.page(offset=offset, limit=limit))
    more = offset + len(items) < total
    return {
        "items": [summary(d) for d in items],
        "total": total,
        "offset": offset,
        "limit": limit,
        "next": _next_link("/datasets", {"offset": offset + limit, "limit": limit})
        if more
        else None,
    }


@router.get("/{dataset_id}", response_model=None)
async def get_dataset(
    request: Request,
    dataset_id: str,
    container: HotContainerDep,
    offset: Annotated[int | None, Query(ge=0)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    columns: Annotated[str | None, Query(description="comma-separated column names")] = None,
    sort: Annotated[str | None, Query(description="col,-col2: ascending, - descending")] = None,
    cursor: Annotated[str | None, Query(description="from a `next` link")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response | dict[str, Any]:
    """Rows of the latest ready version (or `version`), filtered (`col=v`, `col__gt=v`,
    ...), sorted and projected, a page at a time."""
    return await page_response(
        request,
        container.catalog,
        container.store,
        container.settings,
        dataset_id,
        offset=offset,
        limit=limit,
        version=version,
        cursor=cursor,
    )


@router.get("/{dataset_id}/download", response_model=None)
async def download_dataset(
    request: Request,
    dataset_id: str,
    container: HotContainerDep,
    format: Annotated[Literal["csv", "jsonl", "parquet"], Query()] = "csv",
    columns: Annotated[str | None, Query(description="comma-separated column names")] = None,
    sort: Annotated[str | None, Query(description="col,-col2")] = None,
    version: Annotated[int | None, Query(ge=1)] = None,
) -> Response | dict[str, Any]:
    """The whole result (same filters, sort and projection as the rows), streamed."""
    return await download_response(
        request,
        container.catalog,
        container.store,
        container.settings,
        dataset_id,
        fmt=format,
        version=version,
    )


@router.get("/{dataset_id}/versions")
async def list_versions(dataset_id: str, catalog: CatalogDep) -> dict[str, Any]:
    """Every version of the dataset, oldest first, and which one is served."""
    return await anyio.to_thread.run_sync(lambda: versions_body(catalog, dataset_id))


@router.post("/{dataset_id}/reprocess", status_code=202)
async def reprocess_dataset(
    dataset_id: str,
    container: ContainerDep,
    version: Annotated[int | None, Query(ge=1, description="default: the newest")] = None,
) -> JSONResponse:
    """Process a version's uploaded file again, as a new version."""
    created = await anyio.to_thread.run_sync(lambda: reprocess(container, dataset_id, version))
    return JSONResponse(
        {**summary(created), "name": created.name, "version": created.version},
        status_code=202,
        headers={"Location": f"/datasets/{created.id}?version={created.version}"},
    )


@router.delete("/{dataset_id}", status_code=204, response_model=None)
async def delete_dataset(
    dataset_id: str,
    container: ContainerDep,
    version: Annotated[int | None, Query(ge=1, description="default: every version")] = None,
) -> Response:
    """Remove the dataset's versions (or one): objects, then catalog rows."""
    await anyio.to_thread.run_sync(lambda: delete(container, dataset_id, version))
    return Response(status_code=204)


@router.get("/{dataset_id}/status")
async def get_status(dataset_id: str, catalog: CatalogDep) -> dict[str, Any]:
    """Where a dataset is in its life: queued, processing, ready or failed."""
    return summary(find_dataset(catalog, dataset_id))


@router.get("/{dataset_id}/report", response_model=None)
async def get_report(
    dataset_id: str, catalog: CatalogDep, store: StoreDep, settings: SettingsDep
) -> JSONResponse | dict[str, Any]:
    """What the processor detected, inferred, cleaned and rejected."""
    dataset = find_dataset(catalog, dataset_id)
    if not dataset.is_final:
        return _pending(dataset)

    def load() -> dict[str, Any]:
        with store.open(settings.storage.processed_bucket, keys.report_key(dataset.id)) as fh:
            report: dict[str, Any] = json.loads(fh.read())
            return report

    try:
        return await anyio.to_thread.run_sync(load)
    except ObjectNotFound:
        raise NotFound(
            f"dataset {dataset.id} has no report: it failed before one was written "
            f"({dataset.error})"
        ) from None


REJECTS_DEFAULT_LIMIT = 100
REJECTS_MAX_LIMIT = 1000


def _rejects_page(source: BinaryIO, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """One page of rejects.csv (line, reason, detail, raw) and its row count, streamed."""
    items: list[dict[str, Any]] = []
    total = 0
    reader = csv.DictReader(io.TextIOWrapper(source, encoding="utf-8", newline=""))
    for total, row in enumerate(reader, start=1):
        if offset < total <= offset + limit:
            line = row.get("line") or ""
            items.append(
                {
                    "line": int(line) if line.isdigit() else None,
                    "reason": row.get("reason"),
                    "detail": row.get("detail"),
                    "raw": row.get("raw"),
                }
            )
    return items, total


@router.get("/{dataset_id}/rejects", response_model=None)
async def get_rejects(
    dataset_id: str,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=REJECTS_MAX_LIMIT)] = REJECTS_DEFAULT_LIMIT,
) -> JSONResponse | dict[str, Any]:
    """Rows the processor rejected (line, reason, detail, raw text), a page at a time;
    an empty list when it rejected none."""
    dataset = find_dataset(catalog, dataset_id)
    if not dataset.is_final:
        return _pending(dataset)

    def load() -> tuple[list[dict[str, Any]], int]:
        try:
            with store.open(settings.storage.processed_bucket, keys.rejects_key(dataset.id)) as fh:
                return _rejects_page(fh, offset, limit)
        except ObjectNotFound:
            return [], 0

    items, total = await anyio.to_thread.run_sync(load)
    path = f"/datasets/{dataset.id}/rejects"
    more = offset + len(items) < total
    return {
        "id": dataset.id,
        "total": total,
        "offset": offset,
        "limit": limit,
        "items": items,
        "next": _next_link(path, {"offset": offset + limit, "limit": limit}) if more else None,
    }


@router.get("/{dataset_id}/logs", response_model=None)
async def get_logs(
    dataset_id: str, catalog: CatalogDep, store: StoreDep, settings: SettingsDep
) -> JSONResponse | PlainTextResponse:
    """The last 200 lines the processor printed, saved when its run ended (text/plain)."""
    dataset = find_dataset(catalog, dataset_id)
    bucket = settings.storage.processed_bucket
    try:
        text = await anyio.to_thread.run_sync(lambda: load_logs(store, bucket, dataset.id))
    except ObjectNotFound:
        if not dataset.is_final:
            return _pending(dataset)
        raise NotFound(f"no logs were saved for dataset {dataset.id}") from None
    return PlainTextResponse(text)
