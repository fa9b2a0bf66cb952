"""Issue 15, several workers: the API served by `uvicorn --workers 2` with
PROMETHEUS_MULTIPROC_DIR answers /metrics with the sum over both workers, whichever of
them answers the scrape, and both write the JSON log lines with their request ids."""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from tests.servers.api import ApiServer, wait_final

ROOT = Path(__file__).resolve().parents[2]
SALES = ROOT / "examples" / "sales.csv"
HEALTHZ = {"method": "GET", "route": "/healthz", "status": "200"}


class TwoWorkers(ApiServer):
    """As README, For operators, Several workers, says to serve it."""

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "api.main:create_app",
            "--workers",
            "2",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--no-access-log",
        ]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoWorkers]:
    root = tmp_path_factory.mktemp("api-workers")
    prom = root / "prom"
    prom.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(prom), "MINI_LOG_FORMAT": "json"}
    with TwoWorkers(root / "data", env=env) as api:
        yield api


def prom_dir(server: TwoWorkers) -> Path:
    return Path(server.env()["PROMETHEUS_MULTIPROC_DIR"])


def by_worker(server: TwoWorkers) -> dict[str, float]:
    """/healthz answers counted by each worker, from its own file alone."""
    counts = {}
    for db in prom_dir(server).glob("counter_*.db"):
        with tempfile.TemporaryDirectory() as one:
            shutil.copy(db, one)
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=one)  # type: ignore[no-untyped-call]
            counts[db.stem] = registry.get_sample_value("mini_http_requests_total", HEALTHZ) or 0
    return counts


def scrape(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    # A connection of its own each time: either worker may answer.
    text = httpx.get(f"{url}/metrics", timeout=30).text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def healthz(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float]) -> float:
    return samples.get(("mini_http_requests_total", tuple(sorted(HEALTHZ.items()))), 0.0)


def test_metrics_are_summed_over_both_workers(server: TwoWorkers) -> None:
    deadline = time.monotonic() + 60
    while len(list(prom_dir(server).glob("counter_*.db"))) < 2:
        assert time.monotonic() < deadline, server.log_tail()
        time.sleep(0.2)
    start = healthz(scrape(server.url))
    sent = 0
    with ThreadPoolExecutor(8) as pool:
        # New connections until each worker has answered some (the kernel picks one).
        while sent < 2000:
            answers = list(pool.map(lambda _: httpx.get(f"{server.url}/healthz"), range(40)))
            assert all(r.status_code == 200 for r in answers)
            sent += len(answers)
            if len(by_worker(server)) == 2 and min(by_worker(server).values()) > 0:
                break
    workers = by_worker(server)
    assert len(workers) == 2 and min(workers.values()) > 0, workers
    with httpx.Client(base_url=server.url, timeout=60) as http:
        created = http.post("/upload?name=workers", files={"file": SALES.open("rb")}).json()
        done = wait_final(http, created["id"])
    assert done["status"] == "ready"
    for _ in range(8):
        samples = scrape(server.url)
        assert healthz(samples) == start + sent == sum(by_worker(server).values())
        assert samples[("mini_uploads_total", (("outcome", "accepted"),))] == 1
        ready = (("outcome", "ready"), ("runner", "local"))
        assert samples[("mini_processing_runs_total", ready)] == 1
        assert samples[("mini_processor_rows_total", (("kind", "out"),))] == done["rows_out"]
        assert samples[("mini_datasets", (("status", "ready"),))] == 1


def test_each_worker_writes_json_lines_with_the_request_id(server: TwoWorkers) -> None:
    ids = [f"worker-line-{i}" for i in range(20)]
    with ThreadPoolExecutor(4) as pool:
        answers = list(
            pool.map(
                lambda rid: httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": rid}), ids
            )
        )
    assert [r.headers["X-Request-ID"] for r in answers] == ids
    deadline = time.monotonic() + 10
    while True:
        lines = [
            json.loads(line)
            for line in server.log_path.read_text().splitlines()
            if line.startswith("{")
        ]
        seen = {line.get("request_id") for line in lines if line["logger"] == "api.access"}
        if set(ids) <= seen or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert set(ids) <= seen
    ready = [line for line in lines if "is ready" in str(line["event"])]
    assert len(ready) == 2 and all(line["component"] == "api" for line in ready)
