from .base import (
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageError,
    StorageFull,
    StorageUnavailable,
)

__all__ = [
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectStore",
    "StorageError",
    "StorageFull",
    "StorageUnavailable",
]
