"""HTTP glue for the read side: version resolution, cursors, ETags, JSON pages, downloads."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from urllib.parse import quote, urlencode

import anyio
import orjson
import pyarrow as pa
from fastapi import Depends, Request
from fastapi.responses import Response, StreamingResponse

from core import keys
from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore

from ..answers import identity, identity_headers, not_ready
from ..container import Container
from ..errors import NotFound, Unprocessable
from ..limits import bounded
from ..serving import column_type, page_limit
from ..versions import Resolver, Served
from . import cursor as cursors
from .caches import QueryCaches
from .engine import Query, page, scan
from .export import MEDIA_TYPES, csv_chunks, jsonl_chunks, parquet_chunks
from .params import RawQuery, etag, etag_matches, raw_query
from .render import rows as json_rows
from .source import Source, open_source

RAW_CHUNK = 1024 * 1024
CACHE_CONTROL = "no-cache"  # revalidate with If-None-Match: "latest" may move on


async def hot_container(request: Request) -> Container:
    """The container, for the hot read routes. An async dependency runs on the event loop;
    the sync ones in api/deps.py each cost a worker-thread round trip, which was a fifth
    of the serving benchmark's CPU under load."""
    container: Container = request.app.state.container
    return container


HotContainerDep = Annotated[Container, Depends(hot_container)]


def _not_modified(tag: str, served: Served) -> Response:
    return Response(
        status_code=304,
        headers={"ETag": tag, "Cache-Control": CACHE_CONTROL, **identity_headers(served)},
    )


@contextlib.contextmanager
def _opened(
    store: ObjectStore, settings: Settings, caches: QueryCaches, served: Served
) -> Iterator[Source]:
    bucket = settings.storage.processed_bucket
    key = keys.data_key(served.id)
    try:
        with open_source(
            caches, served.id, bucket, key, lambda: store.open_seekable(bucket, key)
        ) as src:
            yield src
    except ObjectNotFound:
        raise NotFound(
            f"version {served.version} of dataset {served.name!r} is ready but its data is missing",
            headers=identity_headers(served),
        ) from None


# A 422 lists at most this many of the version's columns: a 2,000-column dataset's
# error would otherwise be all of its names.
COLUMNS_IN_ERRORS = 50


def bind(raw: RawQuery, schema: pa.Schema, served: Served) -> Query:
    """The query against this version's columns; a 422 names the version it checked."""
    try:
        return raw.bind(schema)
    except Unprocessable as exc:
        names = schema.names
        listed = ", ".join(names[:COLUMNS_IN_ERRORS])
        if len(names) > COLUMNS_IN_ERRORS:
            listed += f" and {len(names) - COLUMNS_IN_ERRORS:,} more"
        raise Unprocessable(
            f"{exc.message} in version {served.version} of dataset {served.name!r} "
            f"(its columns: {listed})",
            headers=identity_headers(served),
        ) from None


@dataclass(frozen=True)
class Target:
    served: Served
    position: int


def _target(
    resolver: Resolver, dataset_id: str, version: int | None, offset: int | None, token: str | None
) -> Target:
    if token is None:
        return Target(resolver.resolve(dataset_id, version), offset or 0)
    if offset is not None:
        raise Unprocessable("give either offset or cursor, not both")
    cursor = cursors.decode(token)
    addressed = resolver.resolve(dataset_id, version)
    if not keys.is_dataset_id(cursor.dataset_id):
        raise Unprocessable("cursor is not valid for this dataset")
    try:
        # The version the walk started on, even if a newer one became ready since.
        served = resolver.resolve(cursor.dataset_id)
    except NotFound:
        raise Unprocessable("cursor is not valid for this dataset: its version is gone") from None
    if served.name != addressed.name:
        raise Unprocessable("cursor is not valid for this dataset")
    return Target(Served(served.dataset, addressed.addressed_by), cursor.position)


def _query_items(request: Request) -> list[tuple[str, str]]:
    return list(request.query_params.multi_items())


async def page_response(
    request: Request,
    container: Container,
    dataset_id: str,
    *,
    offset: int | None,
    limit: int,
    version: int | None,
    cursor: str | None,
) -> Response:
    items = _query_items(request)
    if_none_match = request.headers.get("if-none-match")
    store, settings = container.store, container.settings

    def work() -> Response:
        # One worker-thread hop for catalog, storage and rendering alike.
        target = _target(container.resolver, dataset_id, version, offset, cursor)
        served = target.served
        if (answer := not_ready(served, needs_data=True)) is not None:
            return answer
        tag = etag(served.id, served.version, items, "page")
        if etag_matches(if_none_match, tag):
            return _not_modified(tag, served)
        with _opened(store, settings, container.query_caches, served) as source:
            query = bind(raw_query(items), source.schema, served)
            _check_cursor(cursor, query)
            rows_per_page = page_limit(limit, len(query.columns))
            table, total = page(source, query, target.position, rows_per_page)
        end = target.position + table.num_rows
        body = {
            **identity(served),
            "status": "ready",
            "columns": [{"name": f.name, "type": column_type(f.type)} for f in table.schema],
            "total_rows": total,
            "offset": target.position,
            "limit": rows_per_page,
            "rows": json_rows(table),
            "next": _next_link(request.url.path, items, served, query, end)
            if end < total
            else None,
        }
        return Response(
            orjson.dumps(body),
            media_type="application/json",
            headers={"ETag": tag, "Cache-Control": CACHE_CONTROL, **identity_headers(served)},
        )

    # Stopped past MINI_REQUEST_TIMEOUT_SECONDS or when the client leaves (api/limits.py).
    return await bounded(request, settings.request_timeout_seconds, work)


def _fingerprint(query: Query) -> str:
    return cursors.fingerprint(query.filter_key(), query.sort_key())


def _check_cursor(token: str | None, query: Query) -> None:
    if token is not None and cursors.decode(token).fingerprint != _fingerprint(query):
        raise Unprocessable("cursor belongs to another query: keep the filters and sort it had")


def _next_link(
    path: str, items: list[tuple[str, str]], served: Served, query: Query, position: int
) -> str:
    token = cursors.encode(cursors.Cursor(served.id, position, _fingerprint(query)))
    kept = [(k, v) for k, v in items if k not in ("offset", "cursor")]
    return f"{path}?{urlencode([*kept, ('cursor', token)])}"


# -- downloads --------------------------------------------------------------------------

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def download_filename(served: Served, fmt: str) -> str:
    """`sales-v3.csv`; an unnamed dataset is called by its uploaded file's name."""
    named = not keys.is_dataset_id(served.name)
    base = served.name if named else (Path(served.dataset.filename).stem or served.id)
    return f"{base}-v{served.version}.{fmt}"


def content_disposition(filename: str) -> str:
    ascii_name = _UNSAFE.sub("_", filename).strip("._") or "dataset"
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def _raw_object(store: ObjectStore, bucket: str, key: str) -> Iterator[bytes]:
    with store.open(bucket, key) as fh:
        while chunk := fh.read(RAW_CHUNK):
            yield chunk


def _whole_file(raw: RawQuery, source: Source) -> bool:
    everything = raw.columns is None or list(raw.columns) == list(source.schema.names)
    return everything and not raw.filters and not raw.sort


async def download_response(
    request: Request,
    container: Container,
    dataset_id: str,
    *,
    fmt: str,
    version: int | None,
) -> Response:
    items = _query_items(request)
    paging = sorted({k for k, _ in items} & {"offset", "limit", "cursor"})
    if paging:
        raise Unprocessable(
            f"a download exports the whole result; {', '.join(paging)} does not apply"
        )
    store, settings = container.store, container.settings
    served = await anyio.to_thread.run_sync(lambda: container.resolver.resolve(dataset_id, version))
    if (answer := not_ready(served, needs_data=True)) is not None:
        return answer
    tag = etag(served.id, served.version, items, f"download-{fmt}")
    headers = {
        "ETag": tag,
        "Cache-Control": CACHE_CONTROL,
        "Content-Disposition": content_disposition(download_filename(served, fmt)),
        **identity_headers(served),
    }
    if etag_matches(request.headers.get("if-none-match"), tag):
        return _not_modified(tag, served)
    raw = raw_query(items)
    stack = contextlib.ExitStack()

    def prepare() -> tuple[Iterator[bytes], int | None]:
        source = stack.enter_context(_opened(store, settings, container.query_caches, served))
        query = bind(raw, source.schema, served)  # a 422 here, before the response starts
        if fmt == "parquet" and _whole_file(raw, source):
            bucket, key = settings.storage.processed_bucket, keys.data_key(served.id)
            size = store.stat(bucket, key).size
            stack.close()
            return _raw_object(store, bucket, key), size
        schema = pa.schema([source.schema.field(c) for c in query.columns])
        batches = scan(source, query)
        if fmt == "csv":
            return csv_chunks(batches, schema), None
        if fmt == "jsonl":
            return jsonl_chunks(batches), None
        return parquet_chunks(batches, schema), None

    try:
        chunks, size = await anyio.to_thread.run_sync(prepare)
    except BaseException:
        stack.close()
        raise

    def body() -> Iterator[bytes]:
        with stack:
            yield from chunks

    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(body(), media_type=MEDIA_TYPES[fmt], headers=headers)
