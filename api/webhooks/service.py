"""The webhook use cases: read and replace a dataset's URLs, read its delivery log.

URLs belong to the dataset's name, so they are kept across versions (and go with the
name when its last version is deleted). A name may be configured before its first
upload, so that version 1 is told too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from core import keys
from core.catalog import ALL_DATASETS, Catalog, Delivery, WebhookTarget

from ..errors import NotFound, Unprocessable
from ..versions import Served, resolve, version_of
from .addresses import AddressPolicy, RefusedURL

MAX_URLS_PER_DATASET = 10
# The upload's own pattern for a name (api/routes/upload.py).
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME_CHARS = 255


@dataclass(frozen=True)
class Config:
    name: str
    targets: list[WebhookTarget]
    global_targets: int


def dataset_name(catalog: Catalog, ref: str, *, may_be_new: bool) -> str:
    """The name `ref` stands for: a dataset's name, or the name of the version whose id
    it is; with `may_be_new`, also a valid name nothing was uploaded under yet."""
    if catalog.versions(ref):
        return ref
    if keys.is_dataset_id(ref):
        own = catalog.get(ref)
        if own is not None:
            return own.name or own.id
    elif (may_be_new and NAME.match(ref) and len(ref) <= MAX_NAME_CHARS) or catalog.webhooks(ref):
        return ref
    raise NotFound(f"no dataset named {ref!r} and no version with that id")


def read(catalog: Catalog, ref: str) -> Config:
    name = dataset_name(catalog, ref, may_be_new=False)
    return Config(name, catalog.webhooks(name), len(catalog.webhooks(ALL_DATASETS)))


def replace(catalog: Catalog, policy: AddressPolicy, ref: str, urls: list[str]) -> Config:
    """Check every URL (422 naming the first refused), then make them the dataset's."""
    if len(urls) > MAX_URLS_PER_DATASET:
        raise Unprocessable(f"at most {MAX_URLS_PER_DATASET} webhook URLs per dataset")
    name = dataset_name(catalog, ref, may_be_new=True)
    for url in urls:
        try:
            policy.check(url)
        except RefusedURL as exc:
            raise Unprocessable(f"webhook URL {url!r} refused: {exc}") from None
    targets = catalog.set_webhooks(name, urls)
    return Config(name, targets, len(catalog.webhooks(ALL_DATASETS)))


def delivery_log(
    catalog: Catalog, ref: str, version: int | None, offset: int, limit: int
) -> tuple[Served, list[dict[str, Any]], int]:
    """A name: the log of every version of the dataset; a version id or `?version=N`:
    that version's. Newest first. With the version the URL addresses (the answer's
    headers name it)."""
    served = resolve(catalog, ref, version)
    if served.addressed_by == "name":
        found, total = catalog.deliveries(name=served.name, offset=offset, limit=limit)
    else:
        found, total = catalog.deliveries(dataset_id=served.id, offset=offset, limit=limit)
    numbers = {m.id: version_of(m) for m in catalog.versions(served.name)}
    return served, [_entry(d, numbers.get(d.dataset_id)) for d in found], total


def _entry(delivery: Delivery, version: int | None) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": delivery.id,
        "version": version,
        "version_id": delivery.dataset_id,
        "url": delivery.url,
        "event": f"version.{delivery.event}",
        "state": delivery.state.value,
        "attempts": delivery.attempts,
        "next_attempt_at": iso(delivery.next_attempt_at),
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "created_at": iso(delivery.created_at),
        "delivered_at": iso(delivery.delivered_at),
    }
