"""The one place that decides how a dataset version's state answers, and how every
per-dataset answer names the version it is about.

| state               | data (rows, downloads, column stats) | report, rejects, logs      |
| ------------------- | ------------------------------------ | -------------------------- |
| queued, processing  | 202 + Retry-After                    | 202 + Retry-After          |
| failed              | 409 `dataset_failed` with the error  | what the run left, or 404  |
| ready               | the data                             | the outputs                |

`/status` and `/versions` answer 200 in every state: they describe it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import Response

from core.catalog import Status

from .versions import Served

RETRY_AFTER_SECONDS = "2"
HEADER_NAME = "X-Dataset-Name"
HEADER_VERSION = "X-Dataset-Version"
HEADER_VERSION_ID = "X-Dataset-Version-Id"
EXPOSED_HEADERS = (HEADER_NAME, HEADER_VERSION, HEADER_VERSION_ID)


def identity(served: Served) -> dict[str, Any]:
    """What every JSON body about a version starts with."""
    return {"id": served.id, "name": served.name, "version": served.version}


def identity_headers(served: Served) -> dict[str, str]:
    # Names are ASCII by the upload's pattern (or a hex id), so no header encoding needed.
    return {
        HEADER_NAME: served.name,
        HEADER_VERSION: str(served.version),
        HEADER_VERSION_ID: served.id,
    }


def json_answer(
    served: Served,
    body: Mapping[str, Any],
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON answer about `served`: its identity first in the body and in the headers."""
    return Response(
        orjson.dumps({**identity(served), **body}),
        status_code=status_code,
        media_type="application/json",
        headers={**identity_headers(served), **(headers or {})},
    )


def pending(served: Served) -> Response:
    return json_answer(
        served,
        {"status": served.dataset.status.value},
        status_code=202,
        headers={"Retry-After": RETRY_AFTER_SECONDS},
    )


def failed(served: Served) -> Response:
    dataset = served.dataset
    message = f"version {served.version} of dataset {served.name!r} failed: {dataset.error}"
    return json_answer(
        served,
        {
            "status": "failed",
            "error": {"code": "dataset_failed", "message": message, "detail": dataset.error},
        },
        status_code=409,
    )


def not_ready(served: Served, *, needs_data: bool) -> Response | None:
    """The answer a version's state forces, or None when the endpoint may go on."""
    status = served.dataset.status
    if status in (Status.queued, Status.processing):
        return pending(served)
    if status is Status.failed and needs_data:
        return failed(served)
    return None
