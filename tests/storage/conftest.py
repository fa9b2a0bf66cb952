"""`store` runs every contract test on each adapter; `seaweed` (the real S3 server,
one per session) comes from tests/conftest.py."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from minio import Minio
from minio.deleteobjects import DeleteObject

from core.storage.base import ObjectStore
from core.storage.local import LocalObjectStore
from core.storage.s3 import S3ObjectStore
from tests.servers.seaweed import SeaweedS3

MIB = 1024 * 1024
# S3's minimum part size: the contract sizes (5 MiB, 5 MiB + 1, 11 MiB) then sit
# exactly on and across part boundaries, and 6 MiB is already a multipart upload.
S3_PART_SIZE = 5 * MIB


def make_s3_store(server: SeaweedS3) -> S3ObjectStore:
    server.start()  # no-op unless an earlier test left it stopped
    return S3ObjectStore(
        server.endpoint, server.access_key, server.secret_key, part_size=S3_PART_SIZE
    )


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalObjectStore(tmp_path / "objects")
    return make_s3_store(request.getfixturevalue("seaweed"))


@pytest.fixture
def s3_store(seaweed: SeaweedS3) -> S3ObjectStore:
    return make_s3_store(seaweed)


@pytest.fixture
def s3_client(seaweed: SeaweedS3) -> Minio:
    """A raw minio client, for what the port does not expose (multipart uploads, buckets)."""
    seaweed.start()
    return seaweed.client()


@pytest.fixture
def bucket(request: pytest.FixtureRequest, store: ObjectStore) -> Iterator[str]:
    """A fresh bucket in `store`."""
    server = request.getfixturevalue("seaweed") if isinstance(store, S3ObjectStore) else None
    yield from _fresh_bucket(store, server)


@pytest.fixture
def s3_bucket(seaweed: SeaweedS3, s3_store: S3ObjectStore) -> Iterator[str]:
    """A fresh bucket in `s3_store`."""
    yield from _fresh_bucket(s3_store, seaweed)


def _fresh_bucket(store: ObjectStore, server: SeaweedS3 | None) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:16]}"
    store.ensure_bucket(name)
    yield name
    if server is not None:
        # SeaweedFS gives every bucket a collection of its own volumes: remove it
        # so a bucket per test does not use up the server's volume slots.
        server.start()  # in case the test stopped it and failed before restarting
        remove_bucket(server.client(), name)


def remove_bucket(client: Minio, name: str) -> None:
    if not client.bucket_exists(bucket_name=name):
        return
    objects = client.list_objects(bucket_name=name, recursive=True)
    errors = list(
        client.remove_objects(
            bucket_name=name,
            delete_object_list=(DeleteObject(o.object_name) for o in objects if o.object_name),
        )
    )
    assert not errors, errors
    client.remove_bucket(bucket_name=name)
