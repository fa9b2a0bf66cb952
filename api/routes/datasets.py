"""Per-dataset endpoints. `{dataset_id}` is a dataset's name (stable: the latest ready
version) or a version's id (immutable); `?version=N` picks a version (api/versions.py).
Every answer names the version it is about, in its body and its headers (api/answers.py).
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any, BinaryIO, Literal
from urllib.parse import urlencode

import anyio
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response

from core import keys
from core.catalog import Dataset, Family, Metadata, Status
from core.catalog.search import MAX_QUERY_CHARS, MAX_QUERY_WORDS, query_words
from core.storage import ObjectNotFound

from .. import service
from ..answers import HEADER_NAME, identity_headers, json_answer, not_ready, pending
from ..deps import CatalogDep, ContainerDep, ServedDep, VersionQuery
from ..errors import NotFound, Unprocessable
from ..metadata import MetadataPatch, metadata_body
from ..options import (
    TRANSFORM_QUERY,
    CleaningOptions,
    combined,
    detection_options,
    policy_option,
    transform_option,
)
from ..query.service import HotContainerDep, download_response, page_response
from ..runners.logs import load_logs
from ..serving import DEFAULT_LIMIT, MAX_LIMIT
from ..versions import Served, find_family, latest_ready_version, version_of
from .links import dataset_links

router = APIRouter(prefix="/datasets", tags=["datasets"])

LIST_DEFAULT_LIMIT = 50
LIST_MAX_LIMIT = 1000
# Paging positions beyond this are no position at all (422, never a database overflow).
MAX_OFFSET = 2**53
REJECTS_DEFAULT_LIMIT = 100
REJECTS_MAX_LIMIT = 1000


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def version_summary(dataset: Dataset) -> dict[str, Any]:
    served = Served(dataset, "id")
    return {
        "id": dataset.id,
        "name": served.name,
        "version": served.version,
        "filename": dataset.filename,
        "status": dataset.status.value,
        "error": dataset.error,
        "size_bytes": dataset.size_bytes,
        "sha256": dataset.sha256,
        "rows_in": dataset.rows_in,
        "rows_out": dataset.rows_out,
        "rows_rejected": dataset.rows_rejected,
        "options": dataset.options,
        "schema_diff": dataset.schema_diff,
        "created_at": _iso(dataset.created_at),
        "started_at": _iso(dataset.started_at),
        "finished_at": _iso(dataset.finished_at),
        "links": dataset_links(served),
    }


def family_summary(family: Family) -> dict[str, Any]:
    latest, ready = family.latest, family.latest_ready
    return {
        "name": family.name,
        # The newest version's id (for an unnamed dataset, until it has a second
        # version, also its name).
        "id": latest.id,
        "filename": latest.filename,
        "status": latest.status.value,
        "on_schema_change": family.on_schema_change.value,
        # The newest version's transform: the one the next upload keeps.
        "transform": latest.options.get("transform"),
        "versions": family.versions,
        "latest_version": version_of(latest),
        "latest_id": latest.id,
        "latest_ready_version": version_of(ready) if ready else None,
        "latest_ready_id": ready.id if ready else None,
        "rows": ready.rows_out if ready else None,
        "rows_rejected": ready.rows_rejected if ready else None,
        "size_bytes": latest.size_bytes,
        "ready_size_bytes": ready.size_bytes if ready else None,
        "error": latest.error,
        "updated_at": _iso(latest.finished_at or latest.started_at or latest.created_at),
        "created_at": _iso(latest.created_at),
        "metadata": family.metadata.as_dict(),
        "links": {
            "self": f"/datasets/{family.name}",
            "versions": f"/datasets/{family.name}/versions",
            "latest": f"/datasets/{latest.id}",
            "ui": f"/ui/datasets/{family.name}",
        },
    }


def _next_link(path: str, params: dict[str, Any]) -> str:
    return f"{path}?{urlencode({k: v for k, v in params.items() if v is not None})}"


@router.get("")
async def list_datasets(
    catalog: CatalogDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=LIST_MAX_LIMIT)] = LIST_DEFAULT_LIMIT,
    prefix: Annotated[str | None, Query(max_length=255, description="name prefix")] = None,
    status: Annotated[Status | None, Query(description="the newest version's status")] = None,
    q: Annotated[
        str | None,
        Query(
            max_length=MAX_QUERY_CHARS,
            description="search words: each must start a word of the name, title, "
            "description, tags or column names (any case, accents ignored)",
        ),
    ] = None,
) -> dict[str, Any]:
    """Datasets, one entry per name, most recently uploaded first; with `q`, the ones
    matching every word of it, best match first (README: Metadata and search)."""
    search = _search_text(q)
    items, total = await anyio.to_thread.run_sync(
        lambda: catalog.families(prefix=prefix, status=status, offset=offset, limit=limit, q=search)
    )
    more = offset + len(items) < total
    params = {"prefix": prefix, "status": status.value if status else None, "q": search}
    return {
        "items": [family_summary(f) for f in items],
        "total": total,
        "offset": offset,
        "limit": limit,
        "next": _next_link("/datasets", {**params, "offset": offset + limit, "limit": limit})
        if more
        else None,
    }


def _search_text(q: str | None) -> str | None:
    """`q` as the catalog searches it: None when blank; 422 when it has no word to look
    for (only punctuation) or too many."""
    if q is None or not q.strip():
        return None
    found = query_words(q)
    if not found:
        raise Unprocessable("q: no letters or digits to search for")
    if len(found) > MAX_QUERY_WORDS:
        raise Unprocessable(f"q: at most {MAX_QUERY_WORDS} words, got {len(found)}")
    return q


@router.get("/{dataset_id}", response_model=None)
async def get_dataset(
    request: Request,
    dataset_id: str,
    container: HotContainerDep,
    offset: Annotated[int | None, Query(ge=0, le=MAX_OFFSET)] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    columns: Annotated[str | None, Query(description="comma-separated column names")] = None,
    sort: Annotated[str | None, Query(description="col,-col2: ascending, - descending")] = None,
    cursor: Annotated[str | None, Query(description="from a `next` link")] = None,
    version: VersionQuery = None,
) -> Response:
    """Rows of the version the URL names, filtered (`col=v`, `col__gt=v`, ...), sorted
    and projected, a page at a time."""
    return await page_response(
        request, container, dataset_id, offset=offset, limit=limit, version=version, cursor=cursor
    )


@router.get("/{dataset_id}/download", response_model=None)
async def download_dataset(
    request: Request,
    dataset_id: str,
    container: HotContainerDep,
    format: Annotated[Literal["csv", "jsonl", "parquet"], Query()] = "csv",
    columns: Annotated[str | None, Query(description="comma-separated column names")] = None,
    sort: Annotated[str | None, Query(description="col,-col2")] = None,
    version: VersionQuery = None,
) -> Response:
    """The whole result (same filters, sort and projection as the rows), streamed."""
    return await download_response(request, container, dataset_id, fmt=format, version=version)


@router.get("/{dataset_id}/versions", response_model=None)
async def list_versions(served: ServedDep, catalog: CatalogDep) -> Response:
    """Every version of the dataset, oldest first, each with its schema diff, and which
    one the stable URL serves."""
    members = await anyio.to_thread.run_sync(lambda: find_family(catalog, served.name))
    meta = await anyio.to_thread.run_sync(lambda: catalog.metadata(served.name))
    return json_answer(
        served,
        {
            "latest_version": version_of(members[-1]) if members else None,
            "latest_ready_version": latest_ready_version(members),
            "versions": [version_summary(m) for m in members],
            **metadata_body(meta or Metadata()),
        },
    )


@router.patch("/{dataset_id}", response_model=None)
async def patch_metadata(
    dataset_id: str, changes: MetadataPatch, container: ContainerDep, version: VersionQuery = None
) -> Response:
    """Change the dataset's metadata: title, description, tags, licence, source and
    column descriptions. A JSON merge patch: a field left out keeps its value, null
    clears it. The metadata belongs to the dataset (its name), whichever version the
    URL names, and is kept across its versions; the answer names the version the URL
    addresses (`?version=N` too)."""
    served, meta = await anyio.to_thread.run_sync(
        lambda: service.update_metadata(container, dataset_id, changes.changes(), version)
    )
    return json_answer(served, metadata_body(meta))


@router.get("/{dataset_id}/metadata", response_model=None)
async def get_metadata(
    dataset_id: str, container: ContainerDep, version: VersionQuery = None
) -> Response:
    """The dataset's metadata (what `PATCH /datasets/{dataset_id}` changes), shared by its
    versions; the answer names the version the URL addresses (`?version=N` too)."""
    served, meta = await anyio.to_thread.run_sync(
        lambda: service.metadata(container, dataset_id, version)
    )
    return json_answer(served, metadata_body(meta))


@router.post("/{dataset_id}/reprocess", status_code=202, response_model=None)
async def reprocess_dataset(
    dataset_id: str,
    container: ContainerDep,
    cleaning: CleaningOptions,
    version: VersionQuery = None,
    encoding: Annotated[str | None, Query(max_length=40)] = None,
    delimiter: Annotated[str | None, Query(max_length=3)] = None,
    header_row: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
    no_header: bool | None = None,
    on_schema_change: Annotated[str | None, Query(description="pin, reject or allow")] = None,
    transform: Annotated[str | None, TRANSFORM_QUERY] = None,
) -> Response:
    """Process a version's uploaded file again (default: the version the URL serves), as
    a new version. Takes the upload's detection overrides; what is left out keeps the
    source version's value."""
    overrides = combined(detection_options(encoding, delimiter, header_row, no_header), cleaning)
    overrides |= transform_option(transform, container.settings.processor.transforms)
    policy = policy_option(on_schema_change)
    created = await anyio.to_thread.run_sync(
        lambda: service.reprocess(container, dataset_id, version, overrides, policy)
    )
    served = Served(created, "id")
    return json_answer(
        served,
        version_summary(created),
        status_code=202,
        headers={"Location": f"/datasets/{created.id}"},
    )


@router.delete("/{dataset_id}", status_code=204, response_model=None)
async def delete_dataset(
    dataset_id: str, container: ContainerDep, version: VersionQuery = None
) -> Response:
    """Remove the dataset's versions (or one with `?version=N`): objects, then catalog rows."""
    served, _ = await anyio.to_thread.run_sync(
        lambda: service.delete(container, dataset_id, version)
    )
    if served.addressed_by == "name":
        # Every version went: the answer names the dataset.
        return Response(status_code=204, headers={HEADER_NAME: served.name})
    return Response(status_code=204, headers=identity_headers(served))


@router.get("/{dataset_id}/status", response_model=None)
async def get_status(served: ServedDep, catalog: CatalogDep) -> Response:
    """Where the version is in its life (queued, processing, ready or failed), and the
    dataset's newest version, which may be newer than the one served."""
    members = await anyio.to_thread.run_sync(lambda: catalog.versions(served.name))
    meta = await anyio.to_thread.run_sync(lambda: catalog.metadata(served.name))
    newest = members[-1] if members else served.dataset
    body = version_summary(served.dataset)
    body["latest_version"] = {
        "id": newest.id,
        "version": version_of(newest),
        "status": newest.status.value,
    }
    body.update(metadata_body(meta or Metadata()))
    return json_answer(served, body)


@router.get("/{dataset_id}/report", response_model=None)
async def get_report(served: ServedDep, container: ContainerDep) -> Response:
    """What the processor detected, inferred, cleaned and rejected for this version."""
    if (answer := not_ready(served, needs_data=False)) is not None:
        return answer
    store, bucket = container.store, container.settings.storage.processed_bucket

    def load() -> dict[str, Any]:
        with store.open(bucket, keys.report_key(served.id)) as fh:
            report: dict[str, Any] = json.loads(fh.read())
            return report

    try:
        report = await anyio.to_thread.run_sync(load)
    except ObjectNotFound:
        raise NotFound(
            f"version {served.version} of dataset {served.name!r} has no report: it failed "
            f"before one was written ({served.dataset.error})",
            headers=identity_headers(served),
        ) from None
    report["schema_diff"] = served.dataset.schema_diff
    # The stored report is what the processor wrote and stays so; the metadata, edited
    # since and shared by every version, is merged in as it is now.
    meta = await anyio.to_thread.run_sync(lambda: container.catalog.metadata(served.name))
    with_metadata(report, meta or Metadata())
    return json_answer(served, report)


def with_metadata(report: dict[str, Any], meta: Metadata) -> None:
    """The dataset's metadata in the report, and each column's description in its entry."""
    report["metadata"] = meta.as_dict()
    entries = report.get("columns")
    if meta.columns and isinstance(entries, list):
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str):
                entry["description"] = meta.columns.get(entry["name"])


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
    served: ServedDep,
    container: ContainerDep,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=REJECTS_MAX_LIMIT)] = REJECTS_DEFAULT_LIMIT,
) -> Response:
    """Rows the processor rejected (line, reason, detail, raw text), a page at a time;
    an empty list when it rejected none."""
    if (answer := not_ready(served, needs_data=False)) is not None:
        return answer
    store, bucket = container.store, container.settings.storage.processed_bucket

    def load() -> tuple[list[dict[str, Any]], int]:
        try:
            with store.open(bucket, keys.rejects_key(served.id)) as fh:
                return _rejects_page(fh, offset, limit)
        except ObjectNotFound:
            return [], 0

    items, total = await anyio.to_thread.run_sync(load)
    path = f"/datasets/{served.id}/rejects"
    more = offset + len(items) < total
    return json_answer(
        served,
        {
            "total": total,
            "offset": offset,
            "limit": limit,
            "items": items,
            "next": _next_link(path, {"offset": offset + limit, "limit": limit}) if more else None,
        },
    )


@router.get("/{dataset_id}/logs", response_model=None)
async def get_logs(served: ServedDep, container: ContainerDep) -> Response:
    """The last 200 lines the processor printed for this version, saved when its run
    ended (text/plain)."""
    store, bucket = container.store, container.settings.storage.processed_bucket
    try:
        text = await anyio.to_thread.run_sync(lambda: load_logs(store, bucket, served.id))
    except ObjectNotFound:
        if not served.dataset.is_final:
            return pending(served)
        raise NotFound(
            f"no logs were saved for version {served.version} of dataset {served.name!r}",
            headers=identity_headers(served),
        ) from None
    return PlainTextResponse(text, headers=identity_headers(served))
