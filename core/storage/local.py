"""Object store on the local filesystem: the embedded default."""

from __future__ import annotations

import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import BinaryIO

from .base import ObjectInfo, ObjectNotFound, StorageError, StorageUnavailable

# Sidecars and temp files live outside the bucket folders so listing never sees them.
_META = ".meta"
_TMP = ".tmp"


class LocalObjectStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, bucket: str, key: str) -> Path:
        if not key or key.startswith("/") or ".." in key.split("/"):
            raise StorageError(f"invalid key {key!r}")
        return self.root / bucket / key

    def _meta_path(self, bucket: str, key: str) -> Path:
        return self.root / _META / bucket / (key + ".json")

    def _bucket_dir(self, bucket: str) -> Path:
        path = self.root / bucket
        if not path.is_dir():
            raise StorageError(f"bucket {bucket!r} does not exist")
        return path

    def ensure_bucket(self, bucket: str) -> None:
        try:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
            (self.root / _TMP).mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc

    def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: Iterator[bytes],
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        self._bucket_dir(bucket)
        dest = self._path(bucket, key)
        tmp_dir = self.root / _TMP
        tmp_dir.mkdir(parents=True, exist_ok=True)
        # The writer's pid in the name: a restart can tell a dead writer's part.
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix=f"put-{os.getpid()}-")
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    out.write(chunk)
                    size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            meta = dict(metadata or {})
            self._write_meta(bucket, key, meta)
            # Same filesystem, so the rename is atomic: readers see all or nothing.
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, dest)
            except FileNotFoundError:
                # A delete removed the emptied folder in between: make it again.
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp_name, dest)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        return ObjectInfo(bucket, key, size, meta)

    def _write_meta(self, bucket: str, key: str, meta: Mapping[str, str]) -> None:
        path = self._meta_path(bucket, key)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
        tmp.write_text(json.dumps(dict(meta)))
        os.replace(tmp, path)

    def put_bytes(
        self, bucket: str, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        return self.put_stream(bucket, key, iter([data]), metadata)

    def open(self, bucket: str, key: str) -> BinaryIO:
        try:
            return self._path(bucket, key).open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(bucket, key) from exc
        except OSError as exc:
            raise StorageError(str(exc)) from exc

    def open_seekable(self, bucket: str, key: str) -> BinaryIO:
        return self.open(bucket, key)

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        path = self._path(bucket, key)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise ObjectNotFound(bucket, key) from exc
        try:
            meta = json.loads(self._meta_path(bucket, key).read_text())
        except FileNotFoundError:
            meta = {}
        return ObjectInfo(bucket, key, size, meta)

    def exists(self, bucket: str, key: str) -> bool:
        return self._path(bucket, key).is_file()

    def delete(self, bucket: str, key: str) -> None:
        path = self._path(bucket, key)
        path.unlink(missing_ok=True)
        self._meta_path(bucket, key).unlink(missing_ok=True)
        # Folders are not objects: one left empty by its last object goes with it.
        bucket_dir = self.root / bucket
        parent = path.parent
        while parent != bucket_dir and bucket_dir in parent.parents:
            try:
                parent.rmdir()
            except OSError:
                break  # not empty (or already gone): stop climbing
            parent = parent.parent

    def list(self, bucket: str, prefix: str = "") -> Iterator[str]:
        base = self._bucket_dir(bucket)
        keys = sorted(p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file())
        return iter([k for k in keys if k.startswith(prefix)])

    def sweep_incomplete(self, bucket: str, older_than: timedelta) -> int:
        """Temp parts of writers that are gone (pid not alive) or older than the limit.

        Temp parts of every bucket share one folder; `bucket` is accepted for the port's
        sake. A part without a pid (an older version's) goes once it is old enough."""
        tmp_dir = self.root / _TMP
        if not tmp_dir.is_dir():
            return 0
        cutoff = time.time() - older_than.total_seconds()
        removed = 0
        for path in tmp_dir.iterdir():
            try:
                old = path.stat().st_mtime < cutoff
            except FileNotFoundError:
                continue  # its writer just renamed it into place
            pid = _writer_pid(path.name)
            if old or (pid is not None and not _alive(pid)):
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def ping(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / _TMP
            probe.mkdir(exist_ok=True)
            if not os.access(probe, os.W_OK):
                raise StorageUnavailable(f"{probe} is not writable")
        except OSError as exc:
            raise StorageUnavailable(str(exc)) from exc


def _writer_pid(name: str) -> int | None:
    parts = name.split("-")
    if len(parts) >= 3 and parts[0] == "put" and parts[1].isdigit():
        return int(parts[1])
    return None


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True
