"""One contract for the ObjectStore port (core/storage/base.py), run on every adapter.

`store` is parametrised: the local filesystem adapter, and the S3 adapter against
a real SeaweedFS server (marked `s3`). `bucket` is a fresh bucket for each test.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from minio import Minio

from core.storage.base import ObjectNotFound, ObjectStore, StorageUnavailable
from core.storage.local import LocalObjectStore
from core.storage.s3 import S3ObjectStore

if TYPE_CHECKING:
    from tests.servers.seaweed import SeaweedS3

MIB = 1024 * 1024
KIB = 1024
# Odd chunk sizes, an empty chunk among them: nothing may assume aligned or non-empty chunks.
CHUNK_SIZES = (64 * KIB + 7, 3, 0, MIB + 13, 1)
READ_SIZE = MIB + 5
SIZES = {
    "0B": 0,
    "1B": 1,
    "5MiB": 5 * MIB,
    "5MiB+1": 5 * MIB + 1,
    "11MiB": 11 * MIB,
    "65MiB": 65 * MIB,
}
# A few bytes in; and past the first 5 MiB part, so S3 is in a multipart upload.
FAIL_AFTER = {"after-5B": 5, "after-7MiB": 7 * MIB + 3}


class Source:
    """`size` deterministic bytes as odd-sized chunks, then optionally an exception."""

    def __init__(self, size: int, seed: int = 0, fail_with: BaseException | None = None) -> None:
        self.size = size
        self.seed = seed
        self.fail_with = fail_with
        self.sent = 0
        self._sha = hashlib.sha256()

    def __iter__(self) -> Iterator[bytes]:
        rng = random.Random(self.seed)
        for want in itertools.cycle(CHUNK_SIZES):
            if self.sent == self.size:
                break
            chunk = rng.randbytes(min(want, self.size - self.sent))
            self._sha.update(chunk)
            self.sent += len(chunk)
            yield chunk
        if self.fail_with is not None:
            raise self.fail_with

    @property
    def sha256(self) -> str:
        assert self.sent == self.size, "source not fully consumed"
        return self._sha.hexdigest()


class SourceFailed(Exception):
    """What the caller's iterator raises; must come out of put_stream unchanged."""


def digest(store: ObjectStore, bucket: str, key: str) -> tuple[int, str]:
    """(size, sha256) of what open() returns."""
    sha = hashlib.sha256()
    size = 0
    with store.open(bucket, key) as f:
        while chunk := f.read(READ_SIZE):
            sha.update(chunk)
            size += len(chunk)
    return size, sha.hexdigest()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class PausedWriter:
    """put_stream in a thread; its iterator stops after `head` until release()."""

    def __init__(
        self,
        store: ObjectStore,
        bucket: str,
        key: str,
        head: list[bytes],
        tail: bytes = b"",
        metadata: dict[str, str] | None = None,
    ) -> None:
        self.paused = threading.Event()
        self._release = threading.Event()
        self.outcome: list[object] = []

        def chunks() -> Iterator[bytes]:
            yield from head
            self.paused.set()
            if not self._release.wait(60):
                raise TimeoutError("the test never released the writer")
            yield tail

        def run() -> None:
            try:
                self.outcome.append(store.put_stream(bucket, key, chunks(), metadata))
            except BaseException as exc:
                self.outcome.append(exc)

        self._thread = threading.Thread(target=run, daemon=True)

    def __enter__(self) -> PausedWriter:
        self._thread.start()
        assert self.paused.wait(60), self.outcome
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._release.set()
        self._thread.join(60)
        assert not self._thread.is_alive()

    def result(self) -> object:
        assert len(self.outcome) == 1, self.outcome
        if isinstance(self.outcome[0], BaseException):
            raise self.outcome[0]
        return self.outcome[0]


# -- round trips -------------------------------------------------------------------


@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_round_trip(store: ObjectStore, bucket: str, size: int) -> None:
    source = Source(size, seed=size)
    info = store.put_stream(bucket, "data/file.bin", iter(source))

    assert source.sent == size
    assert (info.bucket, info.key, info.size) == (bucket, "data/file.bin", size)
    assert store.stat(bucket, "data/file.bin").size == size
    assert digest(store, bucket, "data/file.bin") == (size, source.sha256)
    assert store.exists(bucket, "data/file.bin")
    assert list(store.list(bucket)) == ["data/file.bin"]


def test_put_bytes_round_trip(store: ObjectStore, bucket: str) -> None:
    data = b"id,name\n1,a\n"
    assert store.put_bytes(bucket, "x.csv", data).size == len(data)
    with store.open(bucket, "x.csv") as f:
        assert f.read() == data


def test_put_bytes_bigger_than_several_parts(store: ObjectStore, bucket: str) -> None:
    data = random.Random(7).randbytes(17 * MIB + 3)
    assert store.put_bytes(bucket, "big", data, metadata={"filename": "big"}).size == len(data)
    assert digest(store, bucket, "big") == (len(data), sha256(data))
    assert dict(store.stat(bucket, "big").metadata) == {"filename": "big"}


@pytest.mark.parametrize("size", [12, 6 * MIB], ids=["single-put", "multipart"])
def test_metadata_round_trip(store: ObjectStore, bucket: str, size: int) -> None:
    source = Source(size)
    chunks = list(source)
    meta = {"sha256": source.sha256, "filename": "x.csv"}

    info = store.put_stream(bucket, "raw/x.csv", iter(chunks), metadata=meta)

    assert dict(info.metadata) == meta
    stat = store.stat(bucket, "raw/x.csv")
    assert (stat.size, dict(stat.metadata)) == (size, meta)


def test_no_metadata_is_empty(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "k", b"v")
    assert dict(store.stat(bucket, "k").metadata) == {}


# -- failures while writing ----------------------------------------------------------


@pytest.mark.parametrize("fail_after", FAIL_AFTER.values(), ids=FAIL_AFTER.keys())
@pytest.mark.parametrize(
    "error",
    # Also an OSError (the uploading client's socket reset): it is the source's
    # failure, not the store's, and must not turn into StorageUnavailable.
    [SourceFailed("source broke"), ConnectionResetError("client went away")],
    ids=["SourceFailed", "ConnectionResetError"],
)
def test_failing_iterator_leaves_nothing(
    store: ObjectStore, bucket: str, fail_after: int, error: Exception
) -> None:
    source = Source(fail_after, fail_with=error)

    with pytest.raises(type(error)) as raised:
        store.put_stream(bucket, "raw/upload.csv", iter(source), metadata={"filename": "a"})

    assert raised.value is error
    assert source.sent == fail_after
    assert not store.exists(bucket, "raw/upload.csv")
    assert list(store.list(bucket)) == []
    with pytest.raises(ObjectNotFound):
        store.stat(bucket, "raw/upload.csv")
    with pytest.raises(ObjectNotFound):
        store.open(bucket, "raw/upload.csv")


@pytest.mark.parametrize("fail_after", FAIL_AFTER.values(), ids=FAIL_AFTER.keys())
def test_failed_overwrite_keeps_old_object(
    store: ObjectStore, bucket: str, fail_after: int
) -> None:
    old = Source(6 * MIB + 1, seed=1)
    store.put_stream(bucket, "k.csv", iter(old), metadata={"sha256": "old", "filename": "a.csv"})

    with pytest.raises(SourceFailed):
        store.put_stream(
            bucket,
            "k.csv",
            iter(Source(fail_after, seed=2, fail_with=SourceFailed())),
            metadata={"sha256": "new", "filename": "b.csv"},
        )

    assert digest(store, bucket, "k.csv") == (old.size, old.sha256)
    stat = store.stat(bucket, "k.csv")
    assert (stat.size, dict(stat.metadata)) == (old.size, {"sha256": "old", "filename": "a.csv"})
    assert list(store.list(bucket)) == ["k.csv"]


# -- what readers see ------------------------------------------------------------------


def test_overwrite(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "k", b"first version, longer", metadata={"filename": "one.csv"})
    info = store.put_bytes(bucket, "k", b"second", metadata={"filename": "two.csv"})

    assert info.size == 6
    with store.open(bucket, "k") as f:
        assert f.read() == b"second"
    stat = store.stat(bucket, "k")
    assert (stat.size, dict(stat.metadata)) == (6, {"filename": "two.csv"})

    store.put_bytes(bucket, "k", b"third")  # without metadata: none is left over
    assert dict(store.stat(bucket, "k").metadata) == {}
    assert list(store.list(bucket)) == ["k"]


def test_put_in_progress_is_invisible(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "other", b"x")
    head = list(Source(6 * MIB, seed=3))  # > one part: on S3 the multipart upload is under way

    with PausedWriter(store, bucket, "new", head, tail=b"tail"):
        assert not store.exists(bucket, "new")
        assert list(store.list(bucket)) == ["other"]
        assert list(store.list(bucket, "new")) == []
        with pytest.raises(ObjectNotFound):
            store.stat(bucket, "new")
        with pytest.raises(ObjectNotFound):
            store.open(bucket, "new")

    assert store.stat(bucket, "new").size == 6 * MIB + 4
    assert list(store.list(bucket)) == ["new", "other"]


def test_overwrite_in_progress_keeps_old_visible(store: ObjectStore, bucket: str) -> None:
    old = b"old content\n" * 1000
    store.put_bytes(bucket, "k", old, metadata={"filename": "old.csv"})
    head = list(Source(6 * MIB, seed=4))

    with PausedWriter(store, bucket, "k", head, metadata={"filename": "new.csv"}) as writer:
        assert digest(store, bucket, "k") == (len(old), sha256(old))
        stat = store.stat(bucket, "k")
        assert (stat.size, dict(stat.metadata)) == (len(old), {"filename": "old.csv"})

    writer.result()
    stat = store.stat(bucket, "k")
    assert (stat.size, dict(stat.metadata)) == (6 * MIB, {"filename": "new.csv"})


# -- reads, deletes, listing, buckets ------------------------------------------------------


def test_missing_object(store: ObjectStore, bucket: str) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        store.open(bucket, "no/such.csv")
    assert (raised.value.bucket, raised.value.key) == (bucket, "no/such.csv")
    with pytest.raises(ObjectNotFound):
        store.stat(bucket, "no/such.csv")
    assert not store.exists(bucket, "no/such.csv")


def test_delete_is_idempotent(store: ObjectStore, bucket: str) -> None:
    store.delete(bucket, "never-existed")
    store.put_bytes(bucket, "a/k", b"x", metadata={"filename": "k"})
    store.put_bytes(bucket, "a/other", b"y")

    store.delete(bucket, "a/k")
    store.delete(bucket, "a/k")

    assert not store.exists(bucket, "a/k")
    with pytest.raises(ObjectNotFound):
        store.open(bucket, "a/k")
    assert list(store.list(bucket)) == ["a/other"]
    # Re-created, it starts clean: no metadata survives the delete.
    store.put_bytes(bucket, "a/k", b"z")
    assert dict(store.stat(bucket, "a/k").metadata) == {}


def test_list_with_prefix(store: ObjectStore, bucket: str) -> None:
    keys = ["a/1.csv", "a/2.csv", "a/b/3.csv", "ab/4.csv", "b/5.csv", "top.csv"]
    for key in reversed(keys):
        store.put_bytes(bucket, key, key.encode())

    assert list(store.list(bucket)) == keys
    assert list(store.list(bucket, "")) == keys
    assert list(store.list(bucket, "a/")) == ["a/1.csv", "a/2.csv", "a/b/3.csv"]
    assert list(store.list(bucket, "a")) == ["a/1.csv", "a/2.csv", "a/b/3.csv", "ab/4.csv"]
    assert list(store.list(bucket, "a/b/")) == ["a/b/3.csv"]
    assert list(store.list(bucket, "top")) == ["top.csv"]
    assert list(store.list(bucket, "zzz")) == []


def test_ensure_bucket_twice(store: ObjectStore, bucket: str) -> None:
    store.put_bytes(bucket, "k", b"kept")
    store.ensure_bucket(bucket)
    store.ensure_bucket(bucket)
    with store.open(bucket, "k") as f:
        assert f.read() == b"kept"
    assert list(store.list(bucket)) == ["k"]


def test_ping(store: ObjectStore) -> None:
    store.ping()


# -- local only ------------------------------------------------------------------------


def test_local_put_in_progress_writes_nothing_into_the_bucket(tmp_path: Path) -> None:
    root = tmp_path / "objects"
    store = LocalObjectStore(root)
    store.ensure_bucket("b")

    with PausedWriter(store, "b", "dir/k", [b"x" * 100], tail=b"y" * 100):
        assert not store.exists("b", "dir/k")
        assert [p for p in (root / "b").rglob("*") if p.is_file()] == []

    assert store.stat("b", "dir/k").size == 200


# -- S3 only ---------------------------------------------------------------------------


@pytest.mark.s3
@pytest.mark.parametrize("fail_after", FAIL_AFTER.values(), ids=FAIL_AFTER.keys())
def test_s3_failed_put_leaves_no_multipart_upload(
    s3_store: S3ObjectStore, s3_bucket: str, s3_client: Minio, fail_after: int
) -> None:
    with pytest.raises(SourceFailed):
        s3_store.put_stream(s3_bucket, "k", iter(Source(fail_after, fail_with=SourceFailed())))
    uploads = s3_client._list_multipart_uploads(bucket_name=s3_bucket).uploads
    assert [(u.object_name, u.upload_id) for u in uploads] == []


@pytest.mark.s3
def test_s3_chunk_bigger_than_a_part_is_still_sent_in_parts(
    s3_store: S3ObjectStore, s3_bucket: str, s3_client: Minio
) -> None:
    """One 17 MiB chunk goes up as 5 + 5 + 5 + 2 MiB, not as one part of everything left."""
    s3_store.put_stream(s3_bucket, "big", iter([bytes(17 * MIB + 3)]))
    etag = s3_client.stat_object(bucket_name=s3_bucket, object_name="big").etag
    assert etag is not None and etag.endswith("-4"), etag


@pytest.mark.s3
def test_s3_wrong_credentials_are_refused(seaweed: SeaweedS3, s3_store: S3ObjectStore) -> None:
    s3_store.ping()  # the server is up and the right key works...
    wrong_secret = S3ObjectStore(seaweed.endpoint, seaweed.access_key, seaweed.secret_key + "x")
    with pytest.raises(StorageUnavailable):  # ...so the server itself refuses a wrong one
        wrong_secret.ping()
    with pytest.raises(StorageUnavailable):
        wrong_secret.put_bytes("any-bucket", "k", b"data")
    with pytest.raises(StorageUnavailable):
        wrong_secret.ensure_bucket("any-bucket")
    unknown_key = S3ObjectStore(seaweed.endpoint, "nosuchkey", seaweed.secret_key)
    with pytest.raises(StorageUnavailable):
        unknown_key.ping()


@pytest.mark.s3
def test_s3_unreachable_endpoint_fails_fast() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Closed now: nothing listens on that port.
    store = S3ObjectStore(f"127.0.0.1:{port}", "key", "secretsecret")
    calls = {
        "ping": store.ping,
        "put": lambda: store.put_bytes("bucket", "k", b"data"),
        "stat": lambda: store.stat("bucket", "k"),
        "ensure_bucket": lambda: store.ensure_bucket("bucket"),
    }
    for name, call in calls.items():
        started = time.monotonic()
        with pytest.raises(StorageUnavailable):
            call()
        assert time.monotonic() - started < 5, name


@pytest.mark.s3
@pytest.mark.slow  # a restarted SeaweedFS master refuses writes for 15 s (its warmup)
def test_s3_server_stopped_is_unavailable_then_recovers(
    seaweed: SeaweedS3, s3_store: S3ObjectStore, s3_bucket: str
) -> None:
    s3_store.put_bytes(s3_bucket, "kept", b"survives a restart", metadata={"filename": "k"})
    seaweed.stop()
    try:
        for call in (s3_store.ping, lambda: s3_store.stat(s3_bucket, "kept")):
            started = time.monotonic()
            with pytest.raises(StorageUnavailable):
                call()
            assert time.monotonic() - started < 5
    finally:
        seaweed.start()
    s3_store.ping()
    with s3_store.open(s3_bucket, "kept") as f:
        assert f.read() == b"survives a restart"
    assert dict(s3_store.stat(s3_bucket, "kept").metadata) == {"filename": "k"}
    s3_store.put_bytes(s3_bucket, "after", b"writable again")
    assert list(s3_store.list(s3_bucket)) == ["after", "kept"]


def test_sweep_keeps_a_live_writer(store: ObjectStore, bucket: str) -> None:
    head = list(Source(6 * MIB, seed=5))  # > one part: on S3 a multipart upload is open
    with PausedWriter(store, bucket, "live", head, tail=b"tail"):
        assert store.sweep_incomplete(bucket, timedelta(hours=1)) == 0
    assert store.stat(bucket, "live").size == 6 * MIB + 4


def test_local_sweep_removes_parts_of_dead_writers(tmp_path: Path) -> None:
    store = LocalObjectStore(tmp_path)
    store.ensure_bucket("raw")
    finished = subprocess.Popen(["true"])
    finished.wait()  # its pid names a writer that no longer runs
    dead = tmp_path / ".tmp" / f"put-{finished.pid}-abc"
    dead.write_bytes(b"half an upload")
    mine = tmp_path / ".tmp" / f"put-{os.getpid()}-def"
    mine.write_bytes(b"being written")
    legacy = tmp_path / ".tmp" / "put-xyz"  # no pid: goes once old enough
    legacy.write_bytes(b"old")
    assert store.sweep_incomplete("raw", timedelta(hours=1)) == 1
    assert not dead.exists() and mine.exists() and legacy.exists()
    old = time.time() - 7200
    os.utime(legacy, (old, old))
    assert store.sweep_incomplete("raw", timedelta(hours=1)) == 1
    assert not legacy.exists() and mine.exists()


@pytest.mark.s3
def test_s3_sweep_aborts_old_multipart_uploads(
    s3_store: S3ObjectStore, s3_bucket: str, s3_client: Minio
) -> None:
    # As an API killed mid-upload leaves it: a multipart upload never completed.
    s3_client._create_multipart_upload(s3_bucket, "abandoned.csv", {})
    listed = s3_client._list_multipart_uploads(bucket_name=s3_bucket).uploads
    assert [u.object_name for u in listed] == ["abandoned.csv"]
    assert s3_store.sweep_incomplete(s3_bucket, timedelta(hours=1)) == 0  # too young
    assert s3_store.sweep_incomplete(s3_bucket, timedelta(0)) == 1
    assert s3_client._list_multipart_uploads(bucket_name=s3_bucket).uploads == []
    assert list(s3_store.list(s3_bucket)) == []
