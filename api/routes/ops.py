"""What an operator and a newcomer reach first: `/metrics` and `/` (the UI)."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import RedirectResponse, Response

from ..deps import ContainerDep
from ..metrics import CONTENT_TYPE

router = APIRouter(tags=["operations"])


@router.get("/", include_in_schema=False)
async def root() -> RedirectResponse:
    """The UI's list of datasets."""
    return RedirectResponse("/ui/datasets", status_code=307)


@router.get("/metrics", response_class=Response)
async def metrics(container: ContainerDep) -> Response:
    """Prometheus metrics (README: For operators)."""
    body = await anyio.to_thread.run_sync(container.metrics.render)
    return Response(body, media_type=CONTENT_TYPE)
