"""Which version a request about a dataset means.

Uploads that share a `name` are versions 1, 2, ... of one dataset, each with its own id.
Any version's id addresses the whole family: data requests serve the latest *ready*
version (a failed or unfinished newer one never hides it) unless `?version=N` asks for
another. A dataset recorded without a name is a family of one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from threading import Lock
from typing import Any

from core import keys
from core.catalog import Catalog, Dataset, Status

from .errors import NotFound
from .routes.links import dataset_links


def find_dataset(catalog: Catalog, dataset_id: str) -> Dataset:
    """The dataset with this id, or NotFound (also for ids that are not dataset ids)."""
    dataset = catalog.get(dataset_id) if keys.is_dataset_id(dataset_id) else None
    if dataset is None:
        raise NotFound(f"no dataset with id {dataset_id!r}")
    return dataset


def family(catalog: Catalog, dataset: Dataset) -> list[Dataset]:
    """Every version, oldest first."""
    return catalog.versions(dataset.name) if dataset.name is not None else [dataset]


def version_of(dataset: Dataset) -> int:
    return dataset.version if dataset.version is not None else 1


def pick_version(catalog: Catalog, dataset: Dataset, version: int) -> Dataset:
    for member in family(catalog, dataset):
        if version_of(member) == version:
            return member
    raise NotFound(f"dataset {dataset.id} has no version {version}")


def resolve(catalog: Catalog, dataset_id: str, version: int | None = None) -> Dataset:
    """The version to serve: `version`, else the newest ready one, else the newest one
    (whose status, pending or failed, is then what the client sees)."""
    dataset = find_dataset(catalog, dataset_id)
    if version is not None:
        return pick_version(catalog, dataset, version)
    if dataset.name is None:
        return dataset
    latest = catalog.latest_ready(dataset.name)
    if latest is not None:
        return latest
    members = family(catalog, dataset)
    return members[-1] if members else dataset


# Data requests resolve the version to serve once per this many seconds at most: under
# load that saves two catalog queries per request, and a version that just became ready
# (or was deleted elsewhere) is seen at most this much later. Deletes and reprocesses
# through this process clear it at once.
RESOLVE_TTL_SECONDS = 0.2
_resolved: dict[tuple[str, int | None, bool], tuple[float, Dataset]] = {}
_resolved_lock = Lock()


def _cached(key: tuple[str, int | None, bool], load: Callable[[], Dataset]) -> Dataset:
    now = time.monotonic()
    with _resolved_lock:
        hit = _resolved.get(key)
    if hit is not None and now - hit[0] < RESOLVE_TTL_SECONDS:
        return hit[1]
    dataset = load()
    if dataset.status is Status.ready:
        # Only ready answers: a client polling a pending dataset sees it finish at once.
        with _resolved_lock:
            if len(_resolved) > 10_000:
                _resolved.clear()
            _resolved[key] = (now, dataset)
    return dataset


def resolve_cached(catalog: Catalog, dataset_id: str, version: int | None = None) -> Dataset:
    return _cached((dataset_id, version, True), lambda: resolve(catalog, dataset_id, version))


def get_cached(catalog: Catalog, dataset_id: str) -> Dataset:
    return _cached((dataset_id, None, False), lambda: find_dataset(catalog, dataset_id))


def forget_resolved() -> None:
    with _resolved_lock:
        _resolved.clear()


def same_family(a: Dataset, b: Dataset) -> bool:
    if a.name is None or b.name is None:
        return a.id == b.id
    return a.name == b.name


def latest_ready_version(members: list[Dataset]) -> int | None:
    ready = [version_of(m) for m in members if m.status is Status.ready]
    return max(ready) if ready else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def versions_body(catalog: Catalog, dataset_id: str) -> dict[str, Any]:
    dataset = find_dataset(catalog, dataset_id)
    members = family(catalog, dataset)
    return {
        "name": dataset.name,
        "latest_ready_version": latest_ready_version(members),
        "versions": [
            {
                "id": m.id,
                "version": version_of(m),
                "status": m.status.value,
                "error": m.error,
                "filename": m.filename,
                "size_bytes": m.size_bytes,
                "rows_out": m.rows_out,
                "created_at": _iso(m.created_at),
                "finished_at": _iso(m.finished_at),
                "links": {
                    **dataset_links(m.id),
                    "data": f"/datasets/{m.id}?version={version_of(m)}",
                },
            }
            for m in members
        ],
    }
