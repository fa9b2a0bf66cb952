"""Object store on any S3 server through the minio client (MinIO in production)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO, TypeVar

import urllib3

# Before minio: its admin client's crypto is loaded only when used (see there).
from . import minio_crypto  # noqa: F401

# isort: split
from minio import Minio
from minio.error import InvalidResponseError, S3Error, ServerError

from .base import ObjectInfo, ObjectNotFound, StorageError, StorageFull, StorageUnavailable

_META_PREFIX = "x-amz-meta-"
_NOT_FOUND = {"NoSuchKey", "NoSuchObject", "NoSuchBucket"}
_AUTH = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
}
# MinIO answers 507 XMinioStorageFull below its free-space threshold; others may say
# only the status (507 Insufficient Storage), with or without an XML body.
_FULL = {"XMinioStorageFull", "StorageFull"}
_INSUFFICIENT_STORAGE = 507
T = TypeVar("T")


class _IteratorReader(io.RawIOBase):
    """Lets minio pull from an iterator; an exception inside it aborts the upload."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._rest = b""
        self.size = 0
        # What the iterator raised: the caller's failure, not the store's.
        self.error: Exception | None = None

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # One join per part: minio asks for whole parts, and copying the chunks
        # once keeps peak memory near a single part.
        if 0 <= size < len(self._rest):  # a chunk bigger than a part: never return more
            out, self._rest = self._rest[:size], self._rest[size:]
            return out
        parts = [self._rest] if self._rest else []
        have = len(self._rest)
        self._rest = b""
        while size < 0 or have < size:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                break
            except Exception as exc:
                self.error = exc
                raise
            self.size += len(chunk)
            if size >= 0 and have + len(chunk) > size:
                cut = size - have
                parts.append(chunk[:cut])
                self._rest = chunk[cut:]
                break
            parts.append(chunk)
            have += len(chunk)
        return b"".join(parts)


class _ResponseStream(io.RawIOBase):
    """A minio response as a file object that releases its connection on close."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        with _translate("read"):
            data = self._response.read(len(buffer))
        n = len(data)
        buffer[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            self._response.close()
            self._response.release_conn()
        super().close()


class _RangeReader(io.RawIOBase):
    """Random access over HTTP range requests, so Parquet reads touch only what they need."""

    def __init__(self, client: Minio, bucket: str, key: str, size: int) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._size = size
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = max(0, base + offset)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        want = min(len(buffer), self._size - self._pos)
        if want <= 0:
            return 0
        with _translate("get_object", self._bucket, self._key):
            response = self._client.get_object(
                bucket_name=self._bucket, object_name=self._key, offset=self._pos, length=want
            )
            try:
                data = response.read()
            finally:
                response.close()
                response.release_conn()
        n = len(data)
        buffer[:n] = data
        self._pos += n
        return n


def _status(exc: ServerError | InvalidResponseError) -> int | None:
    if isinstance(exc, ServerError):
        return exc.status_code
    # minio keeps a non-XML error answer's HTTP status only in this attribute.
    status = getattr(exc, "_code", None)
    return status if isinstance(status, int) else None


@contextmanager
def _translate(what: str, bucket: str = "", key: str = "") -> Iterator[None]:
    try:
        yield
    except S3Error as exc:
        if exc.code in _NOT_FOUND:
            raise ObjectNotFound(bucket, key) from exc
        if exc.code in _AUTH:
            raise StorageUnavailable(f"S3 refused {what}: {exc.code}") from exc
        if exc.code in _FULL or exc.response.status == _INSUFFICIENT_STORAGE:
            raise StorageFull(f"S3 is out of space during {what}: {exc.code}") from exc
        raise StorageError(f"S3 {what} failed: {exc.code}: {exc.message}") from exc
    except (ServerError, InvalidResponseError) as exc:
        if _status(exc) == _INSUFFICIENT_STORAGE:
            raise StorageFull(f"S3 is out of space during {what}: {exc}") from exc
        raise StorageUnavailable(f"S3 {what} failed: {exc}") from exc
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise StorageUnavailable(f"S3 unreachable during {what}: {exc}") from exc


class S3ObjectStore:
    def __init__(
        self,
        endpoint: str,
        access_key: str,
        secret_key: str,
        *,
        secure: bool = False,
        region: str | None = None,
        part_size: int = 8 * 1024 * 1024,
    ) -> None:
        # Few retries and short connect timeouts: an unreachable store must
        # surface as a 503 within seconds, not hang the upload.
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=3.0, read=60.0),
            retries=urllib3.Retry(total=2, backoff_factor=0.2, status_forcelist=[]),
            maxsize=16,
        )
        self._client = Minio(
            endpoint=endpoint,
            access_key=access_key,
            secret_key=secret_key,
            secure=secure,
            region=region,
            http_client=http,
        )
        self._part_size = part_size

    def _call(self, what: str, fn: Callable[[], T], bucket: str = "", key: str = "") -> T:
        with _translate(what, bucket, key):
            return fn()

    def ensure_bucket(self, bucket: str) -> None:
        with _translate("make_bucket", bucket):
            if not self._client.bucket_exists(bucket_name=bucket):
                try:
                    self._client.make_bucket(bucket_name=bucket)
                except S3Error as exc:
                    # Another replica may have created it between the two calls.
                    if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
                        raise

    def put_stream(
        self,
        bucket: str,
        key: str,
        chunks: Iterator[bytes],
        metadata: Mapping[str, str] | None = None,
    ) -> ObjectInfo:
        reader = _IteratorReader(chunks)
        meta = dict(metadata or {})
        try:
            self._client.put_object(
                bucket_name=bucket,
                object_name=key,
                data=reader,  # type: ignore[arg-type]
                length=-1,
                part_size=self._part_size,
                # Parallel parts multiply memory by the thread count and report a
                # failed part only after the whole body was read.
                num_parallel_uploads=1,
                metadata=dict(meta),
            )
        except Exception as exc:
            if exc is reader.error:
                raise  # minio aborted the upload; the iterator's exception goes out as is
            with _translate("put_object", bucket, key):
                raise
        # Complete can answer 200 with an error body; trust only what is stored.
        info = self.stat(bucket, key)
        if info.size != reader.size:
            self.delete(bucket, key)
            raise StorageError(f"stored {info.size} bytes for {bucket}/{key}, sent {reader.size}")
        return info

    def put_bytes(
        self, bucket: str, key: str, data: bytes, metadata: Mapping[str, str] | None = None
    ) -> ObjectInfo:
        return self.put_stream(bucket, key, iter([data]), metadata)

    def open(self, bucket: str, key: str) -> BinaryIO:
        with _translate("get_object", bucket, key):
            response = self._client.get_object(bucket_name=bucket, object_name=key)
        return io.BufferedReader(_ResponseStream(response), buffer_size=1024 * 1024)

    def open_seekable(self, bucket: str, key: str) -> BinaryIO:
        size = self.stat(bucket, key).size
        return _RangeReader(self._client, bucket, key, size)  # type: ignore[return-value]

    def stat(self, bucket: str, key: str) -> ObjectInfo:
        with _translate("stat_object", bucket, key):
            st = self._client.stat_object(bucket_name=bucket, object_name=key)
        meta = {
            k[len(_META_PREFIX) :].lower(): v
            for k, v in (st.metadata or {}).items()
            if k.lower().startswith(_META_PREFIX)
        }
        return ObjectInfo(bucket, key, int(st.size or 0), meta)

    def exists(self, bucket: str, key: str) -> bool:
        try:
            self.stat(bucket, key)
        except ObjectNotFound:
            return False
        return True

    def delete(self, bucket: str, key: str) -> None:
        with _translate("remove_object", bucket, key):
            self._client.remove_object(bucket_name=bucket, object_name=key)

    def list(self, bucket: str, prefix: str = "") -> Iterator[str]:
        with _translate("list_objects", bucket):
            objects = list(
                self._client.list_objects(bucket_name=bucket, prefix=prefix, recursive=True)
            )
        return iter(sorted(o.object_name for o in objects if o.object_name))

    def sweep_incomplete(self, bucket: str, older_than: timedelta) -> int:
        """Abort multipart uploads begun more than `older_than` ago: an API that died
        mid-upload leaves its parts stored (and billed) until someone aborts them."""
        cutoff = datetime.now(UTC) - older_than
        aborted = 0
        key_marker: str | None = None
        upload_marker: str | None = None
        with _translate("list_multipart_uploads", bucket):
            while True:
                # minio-py has no public call for these two S3 operations.
                listing = self._client._list_multipart_uploads(
                    bucket, key_marker=key_marker, upload_id_marker=upload_marker
                )
                for upload in listing.uploads:
                    started = upload.initiated_time
                    if started is not None and started.tzinfo is None:
                        started = started.replace(tzinfo=UTC)
                    if upload.upload_id and (started is None or started < cutoff):
                        self._client._abort_multipart_upload(
                            bucket, upload.object_name, upload.upload_id
                        )
                        aborted += 1
                markers = (listing.next_key_marker, listing.next_upload_id_marker)
                # minio-py drops NextUploadIdMarker: stop rather than list a page twice.
                if not listing.is_truncated or markers == (key_marker, upload_marker):
                    return aborted
                key_marker, upload_marker = markers

    def ping(self) -> None:
        with _translate("list_buckets"):
            self._client.list_buckets()
