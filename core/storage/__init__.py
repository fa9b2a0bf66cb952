from .base import ObjectInfo, ObjectNotFound, ObjectStore, StorageError, StorageUnavailable

__all__ = ["ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageError", "StorageUnavailable"]
