from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from processor import keys
from processor.catalog import Dataset, Status
from processor.storage import ObjectNotFound

from ..deps import CatalogDep, SettingsDep, StoreDep
from ..errors import NotFound
from ..serving import DEFAULT_LIMIT, MAX_LIMIT, read_page
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


def _get(catalog: CatalogDep, dataset_id: str) -> Dataset:
    dataset = catalog.get(dataset_id) if keys.is_dataset_id(dataset_id) else None
    if dataset is None:
        raise NotFound(f"no dataset with id {dataset_id!r}")
    return dataset


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
    dataset_id: str,
    catalog: CatalogDep,
    store: StoreDep,
    settings: SettingsDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    columns: Annotated[str | None, Query(description="comma-separated column names")] = None,
) -> JSONResponse | dict[str, Any]:
    """Rows of a ready dataset, a page at a time."""
    dataset = _get(catalog, dataset_id)
    if dataset.status is Status.failed:
        return {"id": dataset.id, "status": "failed", "error": dataset.error}
    if dataset.status is not Status.ready:
        return _pending(dataset)
    wanted = [c.strip() for c in columns.split(",") if c.strip()] if columns else None

    def load() -> Any:
        with store.open_seekable(
            settings.storage.processed_bucket, keys.data_key(dataset.id)
        ) as fh:
            return read_page(fh, offset=offset, limit=limit, columns=wanted)

    page = await anyio.to_thread.run_sync(load)
    more = offset + len(page.rows) < page.total_rows
    return {
        "id": dataset.id,
        "status": "ready",
        "columns": page.columns,
        "total_rows": page.total_rows,
        "offset": offset,
        "limit": limit,
        "rows": page.rows,
        "next": _next_link(
            f"/datasets/{dataset.id}",
            {"offset": offset + limit, "limit": limit, "columns": columns},
        )
        if more
        else None,
    }


@router.get("/{dataset_id}/status")
async def get_status(dataset_id: str, catalog: CatalogDep) -> dict[str, Any]:
    """Where a dataset is in its life: queued, processing, ready or failed."""
    return summary(_get(catalog, dataset_id))


@router.get("/{dataset_id}/report", response_model=None)
async def get_report(
    dataset_id: str, catalog: CatalogDep, store: StoreDep, settings: SettingsDep
) -> JSONResponse | dict[str, Any]:
    """What the processor detected, inferred, cleaned and rejected."""
    dataset = _get(catalog, dataset_id)
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
