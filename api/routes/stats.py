"""A column's shape for the UI's charts, for the version the URL names."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from core import keys

from ..answers import identity_headers, json_answer, not_ready
from ..column_stats import column_stats
from ..deps import ContainerDep, ServedDep
from ..errors import Unprocessable
from ..limits import bounded

router = APIRouter(prefix="/datasets", tags=["datasets"])


@router.get("/{dataset_id}/columns/{name}/stats", response_model=None)
async def get_column_stats(
    request: Request,
    name: str,
    served: ServedDep,
    container: ContainerDep,
    bins: Annotated[int, Query(ge=1, le=200)] = 20,
    top: Annotated[int, Query(ge=1, le=100)] = 10,
) -> Response:
    """A column's histogram (numbers, dates, timestamps) or its most frequent values (text).

    Counts cover the whole column, not a page. Histograms of ints and dates use
    whole-number bins closed at both ends; float and timestamp bins are
    [start, end), the last one closed at `max`.
    """
    if (answer := not_ready(served, needs_data=True)) is not None:
        return answer
    key = (served.id, name, bins, top)
    stats = container.stats_cache.get(key)
    if stats is None:
        store, bucket = container.store, container.settings.storage.processed_bucket

        def compute() -> dict[str, Any]:
            with store.open_seekable(bucket, keys.data_key(served.id)) as fh:
                try:
                    return column_stats(fh, name, bins=bins, top=top)
                except Unprocessable as exc:
                    raise Unprocessable(
                        f"{exc.message} in version {served.version} of dataset {served.name!r}",
                        headers=identity_headers(served),
                    ) from None

        stats = await bounded(request, container.settings.request_timeout_seconds, compute)
        container.stats_cache.put(key, stats)
    return json_answer(served, stats)
