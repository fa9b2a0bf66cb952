from __future__ import annotations

from ..settings import Settings, StorageBackend
from .base import ObjectStore


def make_store(settings: Settings) -> ObjectStore:
    s = settings.storage
    if s.backend is StorageBackend.s3:
        from .s3 import S3ObjectStore

        return S3ObjectStore(
            s.endpoint,
            s.access_key,
            s.secret_key.get_secret_value(),
            secure=s.secure,
            region=s.region,
            part_size=s.part_size,
        )
    from .local import LocalObjectStore

    return LocalObjectStore(settings.resolved_storage_root())


def ensure_buckets(store: ObjectStore, settings: Settings) -> None:
    store.ensure_bucket(settings.storage.raw_bucket)
    store.ensure_bucket(settings.storage.processed_bucket)
