"""The API against the real S3 server: streaming, memory, disconnects, outages."""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import s3_env
from tests.servers.api import MULTIPART_TYPE, ApiServer, multipart_stream
from tests.servers.seaweed import SeaweedS3

from .conftest import catalog_of, version_count

pytestmark = pytest.mark.s3

MIB = 1024 * 1024
UPLOAD_BYTES = 200 * MIB
RSS_BUDGET = 64 * MIB


@pytest.fixture(scope="module")
def s3_api(seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    bucket_suffix = os.urandom(4).hex()
    env = s3_env(
        seaweed,
        MINI_STORAGE__RAW_BUCKET=f"raw-{bucket_suffix}",
        MINI_STORAGE__PROCESSED_BUCKET=f"processed-{bucket_suffix}",
    )
    with ApiServer(tmp_path_factory.mktemp("api-s3"), env) as server:
        yield server


def raw_keys(seaweed: SeaweedS3, server: ApiServer) -> list[str]:
    bucket = server.env()["MINI_STORAGE__RAW_BUCKET"]
    client = seaweed.client()
    return sorted(o.object_name for o in client.list_objects(bucket, recursive=True))


def incomplete_uploads(seaweed: SeaweedS3, server: ApiServer) -> list[str]:
    bucket = server.env()["MINI_STORAGE__RAW_BUCKET"]
    result = seaweed.client()._list_multipart_uploads(bucket)
    return [u.object_name for u in result.uploads]


def csv_like(total: int, block: int = MIB) -> Iterator[bytes]:
    line = b"20,alpha,3.25,2024-01-31\n"
    chunk = b"id,name,value,day\n" + line * (block // len(line))
    sent = 0
    while sent < total:
        piece = chunk[: total - sent]
        sent += len(piece)
        yield piece


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def test_readyz(s3_api: ApiServer) -> None:
    assert httpx.get(f"{s3_api.url}/readyz").json() == {"status": "ready"}


def test_200mb_upload_streams_with_bounded_memory(seaweed: SeaweedS3, s3_api: ApiServer) -> None:
    proc = psutil.Process(s3_api.proc.pid if s3_api.proc else 0)
    with httpx.Client(base_url=s3_api.url, timeout=300) as c:
        # Warm up imports and connection pools before taking the baseline.
        c.post("/upload", files={"file": ("warm.csv", b"a,b\n1,2\n")}).raise_for_status()
        time.sleep(0.5)
        baseline = proc.memory_info().rss
        disk_before = dir_bytes(s3_api.data_dir)
        peak = {"rss": baseline, "disk": disk_before}
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                peak["rss"] = max(peak["rss"], proc.memory_info().rss)
                peak["disk"] = max(peak["disk"], dir_bytes(s3_api.data_dir))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample)
        sampler.start()
        digest = hashlib.sha256()

        def body() -> Iterator[bytes]:
            for piece in csv_like(UPLOAD_BYTES):
                digest.update(piece)
                yield piece

        try:
            r = c.post(
                "/upload",
                content=multipart_stream(body(), filename="big.csv"),
                headers={"Content-Type": MULTIPART_TYPE},
            )
        finally:
            done.set()
            sampler.join()
    assert r.status_code == 202, r.text
    payload = r.json()
    assert payload["size_bytes"] == UPLOAD_BYTES
    assert payload["sha256"] == digest.hexdigest()
    growth = peak["rss"] - baseline
    print(f"\nAPI RSS growth during a 200 MB upload: {growth / MIB:.1f} MiB")
    assert growth < RSS_BUDGET
    # No temporary copy anywhere under the server's data dir (its TMPDIR lives there).
    assert peak["disk"] - disk_before < 4 * MIB
    dataset = catalog_of(s3_api).get(payload["id"])
    assert dataset is not None
    assert dataset.sha256 == digest.hexdigest()
    assert dataset.size_bytes == UPLOAD_BYTES
    bucket = s3_api.env()["MINI_STORAGE__RAW_BUCKET"]
    stat = seaweed.client().stat_object(bucket, dataset.raw_key)
    assert stat.size == UPLOAD_BYTES


def test_client_disconnect_leaves_nothing(seaweed: SeaweedS3, s3_api: ApiServer) -> None:
    before_keys = raw_keys(seaweed, s3_api)
    before_rows = version_count(catalog_of(s3_api))
    head = next(multipart_stream([]))
    sock = socket.create_connection(("127.0.0.1", s3_api.port))
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Type: {MULTIPART_TYPE}\r\nContent-Length: {200 * MIB}\r\n\r\n".encode()
        + head
    )
    # Past two 8 MiB parts, so the S3 multipart upload has really started.
    for piece in csv_like(24 * MIB):
        sock.sendall(piece)
    time.sleep(1)
    sock.close()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and incomplete_uploads(seaweed, s3_api):
        time.sleep(0.2)
    assert incomplete_uploads(seaweed, s3_api) == []
    assert raw_keys(seaweed, s3_api) == before_keys
    assert version_count(catalog_of(s3_api)) == before_rows


def test_storage_down_is_503(seaweed: SeaweedS3, s3_api: ApiServer) -> None:
    seaweed.stop()
    try:
        with httpx.Client(base_url=s3_api.url, timeout=60) as c:
            before = version_count(catalog_of(s3_api))
            r = c.post("/upload", files={"file": ("x.csv", b"a,b\n1,2\n")})
            assert r.status_code == 503, r.text
            assert r.json()["error"]["code"] == "service_unavailable"
            assert version_count(catalog_of(s3_api)) == before
            ready = c.get("/readyz")
            assert ready.status_code == 503
            assert "storage" in ready.json()["error"]["message"]
    finally:
        seaweed.start()
    assert httpx.get(f"{s3_api.url}/readyz").status_code == 200


def test_wrong_secret_is_refused(seaweed: SeaweedS3, tmp_path: Path) -> None:
    env = s3_env(seaweed, MINI_STORAGE__SECRET_KEY="not-the-secret")
    with ApiServer(tmp_path / "bad-secret", env) as server:
        r = httpx.post(f"{server.url}/upload", files={"file": ("x.csv", b"a\n1\n")}, timeout=30)
        assert r.status_code == 503
        assert "refused" in r.json()["error"]["message"]


def test_unreachable_storage_port(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        "MINI_STORAGE__BACKEND": "s3",
        "MINI_STORAGE__ENDPOINT": f"127.0.0.1:{port}",
        "MINI_STORAGE__ACCESS_KEY": "k",
        "MINI_STORAGE__SECRET_KEY": "s",
    }
    with ApiServer(tmp_path / "no-s3", env) as server:
        started = time.monotonic()
        r = httpx.post(f"{server.url}/upload", files={"file": ("x.csv", b"a\n1\n")}, timeout=30)
        assert r.status_code == 503
        assert time.monotonic() - started < 15
