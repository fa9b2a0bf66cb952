"""The object store as pyarrow sees it, for readers that want a filesystem (DuckDB's SQL).

Built from the same settings as the ObjectStore adapters, so both reach the same bytes:
the local store's files directly, S3 through pyarrow's own S3 client (no DuckDB
extension to download).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.fs as pafs

from ..settings import Settings, StorageBackend


@dataclass(frozen=True)
class ArrowStore:
    filesystem: pafs.FileSystem
    # Local backend: the folder that holds the buckets; None on S3.
    root: Path | None

    def path(self, bucket: str, key: str) -> str:
        """The object's path on `filesystem`."""
        if self.root is not None:
            return str(self.root / bucket / key)
        return f"{bucket}/{key}"

    def local_file(self, bucket: str, key: str) -> Path | None:
        """The object's own file, when the store keeps it in one."""
        return self.root / bucket / key if self.root is not None else None


def arrow_store(settings: Settings) -> ArrowStore:
    s = settings.storage
    if s.backend is StorageBackend.s3:
        filesystem = pafs.S3FileSystem(
            access_key=s.access_key or None,
            secret_key=s.secret_key.get_secret_value() or None,
            endpoint_override=s.endpoint,
            scheme="https" if s.secure else "http",
            # SeaweedFS and MinIO accept any region; pyarrow would otherwise ask AWS.
            region=s.region or "us-east-1",
            # Path-style addressing, as the minio client uses for a custom endpoint.
            force_virtual_addressing=False,
            connect_timeout=5,
            request_timeout=30,
        )
        return ArrowStore(filesystem, None)
    return ArrowStore(pafs.LocalFileSystem(), settings.resolved_storage_root())
