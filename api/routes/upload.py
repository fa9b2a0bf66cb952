from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse

from .. import service
from ..answers import identity_headers
from ..deps import ContainerDep
from ..errors import PayloadTooLarge, UnsupportedMediaType
from ..limits import timed_body
from ..options import (
    TRANSFORM_QUERY,
    CleaningOptions,
    combined,
    detection_options,
    policy_option,
    transform_option,
)
from ..space import check_free_space
from ..upload_stream import (
    MultipartFileStream,
    RawBodyStream,
    clean_filename,
    multipart_boundary,
)
from ..versions import Served
from .links import dataset_links
from .ui import templates

log = logging.getLogger(__name__)
router = APIRouter(tags=["upload"])

# Multipart framing around the file: boundaries and part headers.
MULTIPART_OVERHEAD = 64 * 1024
# The body's type only picks this path: what the file is, is told from its content.
# application/json is not one: a JSON body is a client calling the API wrong (415),
# a JSON file goes as multipart or application/octet-stream.
RAW_BODY_TYPES = {
    "text/csv",
    "text/plain",
    "application/csv",
    "application/octet-stream",
    "application/x-ndjson",
    "application/gzip",
    "application/zip",
    "application/vnd.ms-excel",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.spreadsheet",
}


# What the page's file picker offers: the formats processor/inputs reads (it tells them
# by content, so this only spares people a wrong pick; "All files" still works).
UPLOAD_ACCEPT = ",".join(
    [
        *(".csv", ".tsv", ".tab", ".txt", ".dat", ".gz", ".zip", ".xlsx", ".xls", ".ods"),
        *(".json", ".ndjson", ".jsonl", "text/csv", "text/plain", "application/json"),
    ]
)


@router.get("/upload", response_class=HTMLResponse)
async def upload_page(request: Request, container: ContainerDep) -> HTMLResponse:
    """The upload page (HTML) for people with a browser."""
    context = {
        "active": "upload",
        "upload_accept": UPLOAD_ACCEPT,
        # The registered names only (README: Your own pandas step).
        "transforms": sorted(container.settings.processor.transforms),
    }
    return templates.TemplateResponse(request, "upload.html", context)


@router.post("/upload", status_code=202)
async def upload(
    request: Request,
    container: ContainerDep,
    cleaning: CleaningOptions,
    filename: Annotated[str | None, Query(max_length=255)] = None,
    encoding: Annotated[str | None, Query(max_length=40)] = None,
    delimiter: Annotated[str | None, Query(max_length=3)] = None,
    header_row: Annotated[int | None, Query(ge=1)] = None,
    no_header: bool | None = None,
    on_schema_change: Annotated[
        str | None,
        Query(description="pin (default), reject or allow; stored with the dataset"),
    ] = None,
    transform: Annotated[str | None, TRANSFORM_QUERY] = None,
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
    options = combined(detection_options(encoding, delimiter, header_row, no_header), cleaning)
    options |= transform_option(transform, settings.processor.transforms)
    policy = policy_option(on_schema_change)
    limit = settings.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(
            f"upload of {declared} bytes exceeds the limit of {limit} bytes (MINI_MAX_UPLOAD_BYTES)"
        )
    content_type = request.headers.get("content-type", "")
    body = request.stream()

    def body_chunks() -> Iterator[bytes]:
        # A body that stalls or trickles is aborted with 408 (api/limits.py).
        return timed_body(
            body,
            settings.upload_idle_timeout_seconds,
            settings.upload_min_bytes_per_second,
            settings.upload_min_rate_window_seconds,
            container.upload_gate.closing,
        )

    stream: MultipartFileStream | RawBodyStream
    if content_type.startswith("multipart/"):
        stream = MultipartFileStream(body_chunks(), multipart_boundary(content_type), limit)
    elif content_type.split(";")[0].strip().lower() in RAW_BODY_TYPES:
        stream = RawBodyStream(body_chunks(), filename or "upload.csv", limit)
    else:
        raise UnsupportedMediaType(
            "send the file as multipart/form-data (field 'file') or as a text/csv body"
        )

    def store_and_record() -> Any:
        return service.upload(
            container,
            stream,
            # Cleaned like a multipart name: no path, no control characters.
            filename=clean_filename(filename) if filename else None,
            name=dataset_name,
            options=options,
            policy=policy,
        )

    def checked_store_and_record() -> Any:
        check_free_space(container)
        return store_and_record()

    # A slot of MINI_MAX_CONCURRENT_UPLOADS (else 503), on the gate's own threads:
    # slow uploads never hold the threads reads use (api/limits.py).
    created = await container.upload_gate.run(checked_store_and_record)
    served = Served(created, "id")
    return JSONResponse(
        {
            "id": created.id,
            "name": served.name,
            "version": served.version,
            "status": created.status.value,
            "filename": created.filename,
            "size_bytes": created.size_bytes,
            "sha256": created.sha256,
            "on_schema_change": created.options.get("on_schema_change"),
            "transform": created.options.get("transform"),
            "links": dataset_links(served),
        },
        status_code=202,
        headers={"Location": f"/datasets/{created.id}", **identity_headers(served)},
    )
