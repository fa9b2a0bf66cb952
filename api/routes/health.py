from __future__ import annotations

import anyio
from fastapi import APIRouter

from ..deps import CatalogDep, SettingsDep, StoreDep
from ..errors import ServiceUnavailable
from ..space import low_space

router = APIRouter(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(store: StoreDep, catalog: CatalogDep, settings: SettingsDep) -> dict[str, str]:
    """Storage and catalog both answer, and the local store has room (MINI_MIN_FREE_BYTES)."""
    problems = []
    if space := await anyio.to_thread.run_sync(low_space, settings):
        problems.append(f"storage: {space}")
    for name, check in (("storage", store.ping), ("catalog", catalog.ping)):
        try:
            await anyio.to_thread.run_sync(check)
        except Exception as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise ServiceUnavailable("; ".join(problems), headers={"Retry-After": "5"})
    return {"status": "ready"}
