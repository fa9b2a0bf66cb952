"""Reprocessing and deleting datasets.

Reprocess copies a version's uploaded file to a new version of the same name and queues
it; the version it came from keeps serving until the new one is ready (and keeps serving
if the new one fails). Every version owns its objects, so deleting one never touches
another's.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from core import keys
from core.catalog import Dataset, new_dataset_id
from core.storage import ObjectNotFound

from .container import Container
from .errors import ServiceError
from .versions import family, find_dataset, forget_resolved, pick_version

log = logging.getLogger(__name__)
COPY_CHUNK = 1024 * 1024


class Conflict(ServiceError):
    status_code = 409
    code = "conflict"


def reprocess(container: Container, dataset_id: str, version: int | None) -> Dataset:
    """A new version from the raw file of `version` (default: the newest version)."""
    catalog, store, settings = container.catalog, container.store, container.settings
    dataset = find_dataset(catalog, dataset_id)
    if dataset.name is None:
        raise Conflict(
            f"dataset {dataset.id} has no name, so it cannot have versions; "
            "upload it again with ?name= instead"
        )
    source = pick_version(catalog, dataset, version) if version else family(catalog, dataset)[-1]
    raw_bucket = settings.storage.raw_bucket
    new_id = new_dataset_id()
    raw_key = keys.raw_key(new_id)
    manifest: dict[str, Any] = {
        "dataset_id": new_id,
        "filename": source.filename,
        "size_bytes": source.size_bytes,
        "sha256": source.sha256,
        "name": source.name,
        "options": source.options,
        "reprocess_of": source.id,
        "uploaded_at": datetime.now(UTC).isoformat(),
    }
    container.ensure_buckets()
    try:
        with store.open(raw_bucket, source.raw_key) as fh:
            chunks = iter(lambda: fh.read(COPY_CHUNK), b"")
            store.put_stream(raw_bucket, raw_key, chunks, metadata={"dataset-id": new_id})
    except ObjectNotFound:
        raise Conflict(
            f"version {source.version} of dataset {source.id} has no uploaded file left"
        ) from None
    try:
        store.put_bytes(raw_bucket, keys.upload_manifest_key(new_id), json.dumps(manifest).encode())
        created = catalog.add(
            dataset_id=new_id,
            filename=source.filename,
            raw_key=raw_key,
            sha256=source.sha256,
            size_bytes=source.size_bytes,
            options=source.options,
            name=source.name,
        )
    except BaseException:
        for key in (raw_key, keys.upload_manifest_key(new_id)):
            try:
                store.delete(raw_bucket, key)
            except Exception:
                log.exception("could not remove %s/%s after a failed reprocess", raw_bucket, key)
        raise
    container.runner.submit(new_id)
    forget_resolved()
    return created


def delete(container: Container, dataset_id: str, version: int | None) -> list[str]:
    """Remove every version (or one), objects first, so nothing points at missing data.

    The upload sidecar goes last among the objects: while it exists the reconciler may
    record an upload again, and the catalog row is removed only after it.
    """
    catalog, store, settings = container.catalog, container.store, container.settings
    dataset = find_dataset(catalog, dataset_id)
    targets = [pick_version(catalog, dataset, version)] if version else family(catalog, dataset)
    busy = [t for t in targets if not t.is_final]
    if busy:
        names = ", ".join(f"{t.id} ({t.status.value})" for t in busy)
        raise Conflict(
            f"cannot delete while a version is being processed: {names}; retry when it ends",
            headers={"Retry-After": "5"},
        )
    deleted = []
    for target in targets:
        for bucket, prefix in (
            (settings.storage.processed_bucket, keys.processed_prefix(target.id)),
            (settings.storage.raw_bucket, keys.raw_prefix(target.id)),
        ):
            sidecar = keys.upload_manifest_key(target.id)
            found = list(store.list(bucket, prefix))
            for key in sorted(found, key=lambda k: k == sidecar):
                store.delete(bucket, key)
        if target.raw_key and not target.raw_key.startswith(keys.raw_prefix(target.id)):
            store.delete(settings.storage.raw_bucket, target.raw_key)
        catalog.delete(target.id)
        deleted.append(target.id)
        forget_resolved()
    return deleted
