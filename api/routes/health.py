from __future__ import annotations

import anyio
from fastapi import APIRouter

from ..deps import CatalogDep, StoreDep
from ..errors import ServiceUnavailable

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(store: StoreDep, catalog: CatalogDep) -> dict[str, str]:
    """Storage and catalog both answer."""
    problems = []
    for name, check in (("storage", store.ping), ("catalog", catalog.ping)):
        try:
            await anyio.to_thread.run_sync(check)
        except Exception as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise ServiceUnavailable("; ".join(problems))
    return {"status": "ready"}
