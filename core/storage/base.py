"""The object store port: a few byte-moving primitives, errors translated at the edge."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import BinaryIO, Protocol


class StorageError(Exception):
    """Anything the backing store reported that is not one of the cases below."""


class StorageUnavailable(StorageError):
    """The store cannot be reached or refused our credentials."""


class StorageFull(StorageError):
    """The store has no room for what we wrote (a full disk, or an S3 server's 507)."""


class ObjectNotFound(StorageError):
    def __init__(self, bucket: str, key: str) -> None:
        super().__init__(f"{bucket}/{key} not found")
        self.bucket = bucket
        self.key = key


@dataclass(frozen=True)
class ObjectInfo:
    bucket: str
    key: str
    size: int
    metadata: Mapping[str, str] = field(default_factory=dict)


class ObjectStore(Protocol):
    def ensure_bucket(self, bucket: str) -> None: ...

    def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: Iterator[bytes],
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        """Store everything `chunks` yields, atomically.

        The object becomes visible only once the iterator is exhausted; if the
        iterator raises, nothing is left under `key` and the exception propagates.
        """
        ...

    def put_bytes(
        self, bucket: str, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo: ...

    def open(self, bucket: str, key: str) -> BinaryIO:
        """A readable binary stream; the caller closes it."""
        ...

    def open_seekable(self, bucket: str, key: str) -> BinaryIO:
        """A seekable stream, for readers such as Parquet that jump to the footer."""
        ...

    def stat(self, bucket: str, key: str) -> ObjectInfo: ...

    def exists(self, bucket: str, key: str) -> bool: ...

    def delete(self, bucket: str, key: str) -> None:
        """Idempotent: deleting a missing object is not an error."""
        ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[str]: ...

    def ping(self) -> None:
        """Raise StorageUnavailable when the store cannot serve requests."""
        ...

    def sweep_incomplete(self, bucket: str, older_than: timedelta) -> int:
        """Remove what writers that died mid-write left behind (temp parts, incomplete
        multipart uploads) older than `older_than`, or whose writer is known dead;
        never an object a live writer is still sending. Returns how many went."""
        ...
