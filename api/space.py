"""Free space on the local object store: uploads answer 507 and /readyz fails below
MINI_MIN_FREE_BYTES, before a write runs into ENOSPC (which answers 507 too)."""

from __future__ import annotations

import shutil

from core.settings import Settings, StorageBackend

from .container import Container
from .errors import InsufficientStorage

DISK_FULL_RETRY_AFTER = "60"


def free_bytes(settings: Settings) -> int | None:
    """Free bytes where the local store writes; None for S3 (the server's own concern)."""
    if settings.storage.backend is not StorageBackend.local:
        return None
    root = settings.resolved_storage_root()
    probe = root if root.exists() else settings.data_dir.resolve()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def low_space(settings: Settings) -> str | None:
    free = free_bytes(settings)
    if free is None or free >= settings.min_free_bytes:
        return None
    return (
        f"only {free} bytes free in the object store, below MINI_MIN_FREE_BYTES "
        f"({settings.min_free_bytes})"
    )


def check_free_space(container: Container) -> None:
    problem = low_space(container.settings)
    if problem:
        raise InsufficientStorage(
            f"{problem}; retry later", headers={"Retry-After": DISK_FULL_RETRY_AFTER}
        )
