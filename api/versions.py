"""Which version of which dataset a request means: the one place that decides.

A dataset is a name with versions 1, 2, ...; each version has its own id.

* `/datasets/{name}` is the **stable** URL: it follows the newest *ready* version (a
  failed or unfinished newer one never hides it; with none ready, the newest version
  answers with its state).
* `/datasets/{version id}` is the **immutable** URL of that one version.
* `?version=N` on either picks version N of the dataset.

An upload without a name is a dataset named by its first version's id, so for it the
two URLs are one until it gets a second version; then the name wins, and version 1 is
`?version=1`. Names that look like version ids are refused at upload for that reason.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from threading import Lock

from core import keys
from core.catalog import Catalog, Dataset, Status

from .errors import NotFound

# Data requests resolve the version to serve at most once per this many seconds per URL:
# under load that saves catalog queries on every request, and a version that just
# became ready (or was deleted through another replica) is seen at most this much later.
# Deletes and reprocesses through this process clear it at once.
RESOLVE_TTL_SECONDS = 0.2
RESOLVE_CACHE_ENTRIES = 10_000


@dataclass(frozen=True)
class Served:
    """The version an answer is about, and how the request named it."""

    dataset: Dataset
    # "name": the stable URL (latest ready); "id": a version's own URL; "version": ?version=N.
    addressed_by: str

    @property
    def name(self) -> str:
        return self.dataset.name or self.dataset.id

    @property
    def version(self) -> int:
        return version_of(self.dataset)

    @property
    def id(self) -> str:
        return self.dataset.id


def version_of(dataset: Dataset) -> int:
    return dataset.version if dataset.version is not None else 1


def family(catalog: Catalog, dataset: Dataset) -> list[Dataset]:
    """Every version of the dataset `dataset` belongs to, oldest first."""
    return catalog.versions(dataset.name) if dataset.name is not None else [dataset]


def _members(catalog: Catalog, ref: str) -> tuple[list[Dataset], Dataset | None]:
    """The versions of the dataset `ref` names, and the version `ref` is the id of (if
    it is not a name)."""
    members = catalog.versions(ref)
    if members:
        return members, None
    own = catalog.get(ref) if keys.is_dataset_id(ref) else None
    if own is None:
        raise NotFound(f"no dataset named {ref!r} and no version with that id")
    return family(catalog, own), own


def resolve(catalog: Catalog, ref: str, version: int | None = None) -> Served:
    members, own = _members(catalog, ref)
    if version is not None:
        for member in members:
            if version_of(member) == version:
                return Served(member, "version")
        name = members[0].name if members else ref
        known = ", ".join(str(version_of(m)) for m in members) or "none"
        raise NotFound(f"dataset {name!r} has no version {version} (versions: {known})")
    if own is not None:
        return Served(own, "id")
    ready = [m for m in members if m.status is Status.ready]
    return Served(ready[-1] if ready else members[-1], "name")


def find_family(catalog: Catalog, ref: str) -> list[Dataset]:
    """Every version of the dataset `ref` (a name or any version's id) names."""
    return _members(catalog, ref)[0]


def latest_ready_version(members: list[Dataset]) -> int | None:
    ready = [version_of(m) for m in members if m.status is Status.ready]
    return max(ready) if ready else None


class Resolver:
    """`resolve` with a short memory of *ready* answers only, so a client polling a
    pending version sees it finish at once. Created by the composition root."""

    def __init__(self, catalog: Catalog, ttl: float = RESOLVE_TTL_SECONDS) -> None:
        self.catalog = catalog
        self.ttl = ttl
        self._answers: dict[tuple[str, int | None], tuple[float, Served]] = {}
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def resolve(self, ref: str, version: int | None = None) -> Served:
        key = (ref, version)
        now = time.monotonic()
        with self._lock:
            hit = self._answers.get(key)
        if hit is not None and now - hit[0] < self.ttl:
            self.hits += 1
            return hit[1]
        self.misses += 1
        served = resolve(self.catalog, ref, version)
        if served.dataset.status is Status.ready:
            with self._lock:
                if len(self._answers) >= RESOLVE_CACHE_ENTRIES:
                    self._answers.clear()
                self._answers[key] = (now, served)
        return served

    def forget(self) -> None:
        with self._lock:
            self._answers.clear()
