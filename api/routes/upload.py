from __future__ import annotations

import codecs
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
import anyio.from_thread
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from core import keys
from core.catalog import new_dataset_id

from ..deps import ContainerDep
from ..errors import PayloadTooLarge, Unprocessable, UnsupportedMediaType
from ..upload_stream import MultipartFileStream, RawBodyStream, multipart_boundary
from .links import dataset_links
from .ui import templates

log = logging.getLogger(__name__)
router = APIRouter(tags=["upload"])

# Multipart framing around the file: boundaries and part headers.
MULTIPART_OVERHEAD = 64 * 1024
RAW_BODY_TYPES = {"text/csv", "text/plain", "application/csv", "application/octet-stream"}
DELIMITERS = {",": ",", ";": ";", "|": "|", "\\t": "\t", "tab": "\t", "\t": "\t"}


def _options(
    encoding: str | None, delimiter: str | None, header_row: int | None, no_header: bool
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if encoding:
        try:
            options["encoding"] = codecs.lookup(encoding).name
        except LookupError:
            raise Unprocessable(f"unknown encoding {encoding!r}") from None
    if delimiter:
        if delimiter not in DELIMITERS:
            raise Unprocessable("delimiter must be one of , ; | tab")
        options["delimiter"] = DELIMITERS[delimiter]
    if header_row is not None:
        options["header_row"] = header_row
    if no_header:
        options["no_header"] = True
    return options


@router.get("/upload", response_class=HTMLResponse, include_in_schema=False)
async def upload_page(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(request, "upload.html", {"active": "upload"})


@router.post("/upload", status_code=202)
async def upload(
    request: Request,
    container: ContainerDep,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    encoding: Annotated[str | None, Query(max_length=40)] = None,
    delimiter: Annotated[str | None, Query(max_length=3)] = None,
    header_row: Annotated[int | None, Query(ge=1)] = None,
    no_header: bool = False,
    dataset_name: Annotated[
        str | None,
        Query(
            alias="name",
            max_length=255,
            pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$",
            description="uploads sharing a name are versions 1, 2, ... of one dataset",
        ),
    ] = None,
) -> JSONResponse:
    """Stream one CSV file into storage and queue it for processing.

    Send it as multipart/form-data in the field `file`, or as the raw body
    with Content-Type text/csv.
    """
    settings = container.settings
    options = _options(encoding, delimiter, header_row, no_header)
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(
            f"upload of {declared} bytes exceeds the limit of {limit} bytes (MINI_MAX_UPLOAD_BYTES)"
        )
    content_type = request.headers.get("content-type", "")
    body = request.stream()

    def body_chunks() -> Iterator[bytes]:
        while True:
            try:
                chunk = anyio.from_thread.run(body.__anext__)
            except StopAsyncIteration:
                return
            if chunk:
                yield chunk

    stream: MultipartFileStream | RawBodyStream
    if content_type.startswith("multipart/"):
        stream = MultipartFileStream(body_chunks(), multipart_boundary(content_type), limit)
    elif content_type.split(";")[0].strip().lower() in RAW_BODY_TYPES:
        stream = RawBodyStream(body_chunks(), filename or "upload.csv", limit)
    else:
        raise UnsupportedMediaType(
            "send the file as multipart/form-data (field 'file') or as a text/csv body"
        )

    dataset_id = new_dataset_id()
    raw_bucket = settings.storage.raw_bucket
    raw_key = keys.raw_key(dataset_id)

    def store_and_record() -> dict[str, Any]:
        container.ensure_buckets()
        info = container.store.put_stream(
            raw_bucket, raw_key, stream.chunks(), metadata={"dataset-id": dataset_id}
        )
        name = filename or stream.filename or "upload.csv"
        sha256 = stream.digest.sha256.hexdigest()
        manifest: dict[str, Any] = {
            "dataset_id": dataset_id,
            "filename": name,
            "size_bytes": info.size,
            "sha256": sha256,
            "content_type": stream.content_type,
            "uploaded_at": datetime.now(UTC).isoformat(),
            # Without a name, an upload is a dataset of its own: its name is its id.
            "name": dataset_name or dataset_id,
            "options": options,
        }
        try:
            container.store.put_bytes(
                raw_bucket, keys.upload_manifest_key(dataset_id), json.dumps(manifest).encode()
            )
            recorded = container.catalog.add(
                dataset_id=dataset_id,
                filename=name,
                raw_key=raw_key,
                sha256=sha256,
                size_bytes=info.size,
                options=options,
                name=manifest["name"],
            )
        except BaseException:
            # Nothing half-written: an uncatalogued object is removed again.
            for key in (raw_key, keys.upload_manifest_key(dataset_id)):
                try:
                    container.store.delete(raw_bucket, key)
                except Exception:
                    log.exception("could not remove %s/%s after a failed upload", raw_bucket, key)
            raise
        return {**manifest, "version": recorded.version}

    manifest = await anyio.to_thread.run_sync(store_and_record)
    container.runner.submit(dataset_id)
    location = f"/datasets/{dataset_id}"
    return JSONResponse(
        {
            "id": dataset_id,
            "status": "queued",
            "filename": manifest["filename"],
            "size_bytes": manifest["size_bytes"],
            "sha256": manifest["sha256"],
            "name": manifest["name"],
            "version": manifest["version"],
            "links": dataset_links(dataset_id),
        },
        status_code=202,
        headers={"Location": location},
    )
