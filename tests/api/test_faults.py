"""Faults on the real servers, with the API running through them: S3 cut (Toxiproxy)
and slowed mid-upload and mid-processing, the S3 server killed and restarted, and
PostgreSQL restarted. After each: every upload that got 202 ends ready with its rows or
failed with a message, no partial object or multipart upload is left once the
reconciler ran, and the API recovered without a restart.

Traffic stays on loopback: the proxy listens on 127.0.0.1 and forwards to the S3 server
on 127.0.0.1.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import s3_env
from tests.servers.api import ApiServer, wait_final
from tests.servers.postgres import PostgresServer
from tests.servers.seaweed import SeaweedS3
from tests.servers.toxiproxy import Proxy, Toxiproxy

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 * 1024
CSV_HEAD = b"id,label,amount\n"


def rows_csv(rows: int) -> bytes:
    return CSV_HEAD + "".join(f"{i},row {i},{i * 0.5}\n" for i in range(rows)).encode()


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    """An S3 server of this module's own: the tests stop and start it."""
    with SeaweedS3() as server:
        yield server


@pytest.fixture(scope="module")
def toxiproxy() -> Iterator[Toxiproxy]:
    with Toxiproxy() as server:
        yield server


@pytest.fixture
def proxy(toxiproxy: Toxiproxy, s3: SeaweedS3) -> Iterator[Proxy]:
    made = toxiproxy.proxy(f"s3-{uuid.uuid4().hex[:8]}", s3.endpoint)
    yield made
    made.clear()


def api_env(s3: SeaweedS3, endpoint: str, run: str) -> dict[str, str]:
    return s3_env(
        s3,
        MINI_STORAGE__ENDPOINT=endpoint,
        MINI_STORAGE__RAW_BUCKET=f"raw-{run}",
        MINI_STORAGE__PROCESSED_BUCKET=f"processed-{run}",
        MINI_STORAGE__INCOMPLETE_MAX_AGE_SECONDS="1",
        MINI_RUNNER__MAX_PARALLEL="1",
    )


def reconcile(server: ApiServer) -> str:
    """The reconciler, as the CronJob runs it, with the API's settings."""
    env = {**server.env(), "MINI_STORAGE__INCOMPLETE_MAX_AGE_SECONDS": "1"}
    time.sleep(1.2)
    done = subprocess.run(
        [sys.executable, "-m", "processor", "reconcile", "--grace-seconds", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def assert_nothing_half_written(client: httpx.Client, s3: SeaweedS3, run: str) -> None:
    direct = s3.client()
    raw = f"raw-{run}"
    assert direct._list_multipart_uploads(bucket_name=raw).uploads == []
    for obj in direct.list_objects(bucket_name=raw, recursive=True):
        dataset_id = (obj.object_name or "").split("/")[0]
        status = client.get(f"/datasets/{dataset_id}/status")
        assert status.status_code == 200, f"{obj.object_name} belongs to no dataset"
        assert status.json()["status"] in ("ready", "failed")


def slow_body(total: int, on_sent: int, action: object) -> Iterator[bytes]:
    """`total` bytes of CSV in 256 KiB pieces; `action()` once `on_sent` bytes went."""
    piece = rows_csv(20_000)[: 256 * 1024]
    sent = 0
    yield CSV_HEAD
    while sent < total:
        yield piece
        sent += len(piece)
        if sent >= on_sent and action is not None:
            action()  # type: ignore[operator]
            action = None
        time.sleep(0.002)


def test_s3_cut_mid_upload_then_back(tmp_path: Path, s3: SeaweedS3, proxy: Proxy) -> None:
    run = uuid.uuid4().hex[:8]
    with (
        ApiServer(tmp_path / "api", env=api_env(s3, proxy.listen, run)) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        r = client.post(
            "/upload?name=cut",
            content=slow_body(24 * MIB, 12 * MIB, lambda: proxy.enabled(False)),
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "service_unavailable"
        assert r.headers["retry-after"]
        proxy.enabled(True)
        # The API recovered by itself: the next upload goes through.
        good = client.post(
            "/upload?name=after-cut",
            content=rows_csv(1000),
            headers={"Content-Type": "text/csv"},
        )
        assert good.status_code == 202, good.text
        assert wait_final(client, good.json()["id"])["rows_out"] == 1000
        assert "cut" not in [i["name"] for i in client.get("/datasets").json()["items"]]
        report = reconcile(server)
        assert '"swept"' in report
        assert_nothing_half_written(client, s3, run)


def test_s3_slow_still_serves_exact_rows(tmp_path: Path, s3: SeaweedS3, proxy: Proxy) -> None:
    run = uuid.uuid4().hex[:8]
    proxy.toxic("latency", "downstream", latency=150, jitter=50)
    proxy.toxic("bandwidth", "upstream", rate=2048)  # KB/s towards S3
    with (
        ApiServer(tmp_path / "api", env=api_env(s3, proxy.listen, run)) as server,
        httpx.Client(base_url=server.url, timeout=300) as client,
    ):
        r = client.post(
            "/upload?name=slow", content=rows_csv(50_000), headers={"Content-Type": "text/csv"}
        )
        assert r.status_code == 202, r.text
        status = wait_final(client, r.json()["id"], timeout=300)
        assert status["status"] == "ready" and status["rows_out"] == 50_000
        page = client.get("/datasets/slow?amount__gte=24999.5&limit=10").json()
        assert [row["id"] for row in page["rows"]] == list(range(49_999, 50_000))
        assert_nothing_half_written(client, s3, run)


def test_s3_cut_mid_processing(tmp_path: Path, s3: SeaweedS3, proxy: Proxy) -> None:
    run = uuid.uuid4().hex[:8]
    with (
        ApiServer(tmp_path / "api", env=api_env(s3, proxy.listen, run)) as server,
        httpx.Client(base_url=server.url, timeout=120) as client,
    ):
        r = client.post(
            "/upload?name=mid", content=rows_csv(400_000), headers={"Content-Type": "text/csv"}
        )
        assert r.status_code == 202, r.text
        dataset_id = r.json()["id"]
        deadline = time.monotonic() + 120
        while client.get(f"/datasets/{dataset_id}/status").json()["status"] == "queued":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proxy.enabled(False)
        time.sleep(3)
        proxy.enabled(True)
        status = wait_final(client, dataset_id, timeout=300)
        # Ready with every row, or failed saying why: never stuck, never partial.
        if status["status"] == "ready":
            assert status["rows_out"] == 400_000
        else:
            assert status["error"], status
        reconcile(server)
        assert_nothing_half_written(client, s3, run)


def test_s3_server_killed_and_restarted_mid_upload(tmp_path: Path, s3: SeaweedS3) -> None:
    run = uuid.uuid4().hex[:8]
    stopper = threading.Thread(target=s3.stop)
    with (
        ApiServer(tmp_path / "api", env=api_env(s3, s3.endpoint, run)) as server,
        httpx.Client(base_url=server.url, timeout=180) as client,
    ):
        r = client.post(
            "/upload?name=killed",
            content=slow_body(24 * MIB, 12 * MIB, stopper.start),
            headers={"Content-Type": "text/csv"},
        )
        stopper.join()
        assert r.status_code == 503, r.text
        assert client.get("/readyz").status_code == 503
        s3.start()
        good = client.post(
            "/upload?name=after-kill",
            content=rows_csv(1000),
            headers={"Content-Type": "text/csv"},
        )
        assert good.status_code == 202, good.text
        assert wait_final(client, good.json()["id"])["rows_out"] == 1000
        assert client.get("/readyz").status_code == 200
        reconcile(server)
        assert_nothing_half_written(client, s3, run)


def test_postgres_restarted(tmp_path: Path) -> None:
    with PostgresServer() as pg:
        database = pg.create_database()
        env = {"MINI_DATABASE_URL": pg.url(database), "MINI_RUNNER__MAX_PARALLEL": "1"}
        with (
            ApiServer(tmp_path / "api", env=env) as server,
            httpx.Client(base_url=server.url, timeout=60) as client,
        ):
            first = client.post(
                "/upload?name=pg", content=rows_csv(100), headers={"Content-Type": "text/csv"}
            )
            assert wait_final(client, first.json()["id"])["status"] == "ready"
            pg.stop()
            down = client.get("/datasets")
            assert down.status_code == 503 and down.headers["retry-after"]
            assert down.json()["error"]["code"] == "service_unavailable"
            refused = client.post(
                "/upload?name=pg", content=rows_csv(10), headers={"Content-Type": "text/csv"}
            )
            assert refused.status_code == 503
            # Nothing of the refused upload stayed behind.
            raw = server.data_dir / "objects" / "raw"
            assert {p.name for p in raw.iterdir()} == {first.json()["id"]}
            pg.start()
            deadline = time.monotonic() + 30
            while client.get("/datasets").status_code != 200:
                assert time.monotonic() < deadline, "the API did not recover"
                time.sleep(0.2)
            again = client.post(
                "/upload?name=pg", content=rows_csv(200), headers={"Content-Type": "text/csv"}
            )
            assert again.status_code == 202
            assert again.json()["version"] == 2
            assert wait_final(client, again.json()["id"])["rows_out"] == 200
            assert client.get("/datasets/pg").json()["version"] == 2
