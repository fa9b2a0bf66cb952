"""Issue 15, part 2, against a live API: /metrics moves as it should after an upload, a
failed processing and a page read; one request id is on a log line of the API, of the
runner and of the processor; the Job of an upload is labelled and annotated with it."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.servers.api import ApiServer, wait_final

ROOT = Path(__file__).resolve().parents[2]
SALES = (ROOT / "examples" / "sales.csv").read_bytes()
# A field longer than the server's MINI_MAX_FIELD_BYTES fails processing (exit code 2).
MAX_FIELD_BYTES = 4096
BROKEN = b"a,b\n1," + b"x" * (2 * MAX_FIELD_BYTES) + b"\n2,y\n"


@pytest.fixture(scope="module")
def json_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    env = {"MINI_LOG_FORMAT": "json", "MINI_MAX_FIELD_BYTES": str(MAX_FIELD_BYTES)}
    with ApiServer(tmp_path_factory.mktemp("api-ops"), env=env) as server:
        yield server


@pytest.fixture
def client(json_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=json_api.url, timeout=60) as c:
        yield c


def scrape(client: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def upload(client: httpx.Client, body: bytes, name: str, rid: str | None = None) -> httpx.Response:
    headers = {"X-Request-ID": rid} if rid else {}
    return client.post(
        f"/upload?name={name}", files={"file": (f"{name}.csv", body, "text/csv")}, headers=headers
    )


def test_metrics_follow_an_upload_a_failure_and_a_page_read(client: httpx.Client) -> None:
    before = scrape(client)
    ok = upload(client, SALES, "metrics-ok")
    bad = upload(client, BROKEN, "metrics-bad")
    assert ok.status_code == bad.status_code == 202
    done_ok = wait_final(client, ok.json()["id"])
    done_bad = wait_final(client, bad.json()["id"])
    assert done_ok["status"] == "ready" and done_bad["status"] == "failed"
    page = client.get("/datasets/metrics-ok?limit=5")
    assert page.status_code == 200
    again = client.get("/datasets/metrics-ok?limit=5")  # the resolver answers from memory
    assert again.status_code == 200
    after = scrape(client)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    # Requests, by route template (never the name asked for) and status.
    assert delta("mini_http_requests_total", method="POST", route="/upload", status="202") == 2
    route = "/datasets/{dataset_id}"
    assert delta("mini_http_requests_total", method="GET", route=route, status="200") == 2
    assert delta("mini_http_request_duration_seconds_count", method="GET", route=route) == 2
    assert not any("metrics-ok" in str(labels) for _, labels in after)
    # Uploads: both accepted, their bytes counted.
    assert delta("mini_uploads_total", outcome="accepted") == 2
    assert delta("mini_upload_bytes_total") == len(SALES) + len(BROKEN)
    assert delta("mini_upload_duration_seconds_count") == 2
    # Processing outcomes by runner, with durations.
    assert delta("mini_processing_runs_total", runner="local", outcome="ready") == 1
    assert delta("mini_processing_runs_total", runner="local", outcome="failed") == 1
    assert delta("mini_processing_duration_seconds_count", runner="local", outcome="ready") == 1
    # The processor's own figures, from the ready version's result manifest.
    assert delta("mini_processor_rows_total", kind="in") == done_ok["rows_in"]
    assert delta("mini_processor_rows_total", kind="out") == done_ok["rows_out"]
    assert delta("mini_processor_rows_total", kind="rejected") == done_ok["rows_rejected"]
    assert delta("mini_processor_bytes_total", direction="in") == len(SALES)
    assert delta("mini_processor_bytes_total", direction="out") > 0
    assert delta("mini_processor_phase_duration_seconds_count", phase="total") == 1
    # Catalog state at scrape time, and the caches.
    assert value(after, "mini_datasets", status="ready") >= 1
    assert value(after, "mini_datasets", status="failed") >= 1
    assert value(after, "mini_queue_length") == 0
    # Every lookup of the resolver's short memory is a hit or a miss (hits need two reads
    # within its 0.2 s memory, which a slow machine may not make).
    resolver = delta("mini_cache_hits_total", cache="resolver")
    assert resolver + delta("mini_cache_misses_total", cache="resolver") >= 2
    assert ("mini_cache_misses_total", (("cache", "footers"),)) in after


def test_a_refused_upload_is_counted(client: httpx.Client) -> None:
    before = scrape(client)
    r = client.post("/upload", content=b"", headers={"Content-Type": "text/csv"})
    assert r.status_code == 422
    after = scrape(client)
    key = (
        "mini_http_requests_total",
        (("method", "POST"), ("route", "/upload"), ("status", "422")),
    )
    assert after[key] - before.get(key, 0) == 1
    # An upload refused while its body streamed: counted as such, nothing accepted.
    rejected = ("mini_uploads_total", (("outcome", "rejected"),))
    accepted = ("mini_uploads_total", (("outcome", "accepted"),))
    assert after[rejected] - before.get(rejected, 0) == 1
    assert after.get(accepted, 0) == before.get(accepted, 0)


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            lines.append(json.loads(line))
    return lines


def test_one_request_id_from_the_request_to_the_processor(
    client: httpx.Client, json_api: ApiServer
) -> None:
    rid = f"trace-{time.time_ns()}"
    r = upload(client, SALES, "traced", rid)
    assert r.status_code == 202 and r.headers["X-Request-ID"] == rid
    version_id = r.json()["id"]
    assert wait_final(client, version_id)["status"] == "ready"
    # The API's lines (the access line, the upload) and the runner's, in the API's log.
    deadline = time.monotonic() + 10
    while True:
        api_lines = [
            line
            for line in _json_lines(json_api.log_path.read_text())
            if line.get("request_id") == rid
        ]
        loggers = {str(line["logger"]) for line in api_lines}
        if {
            "api.access",
            "api.service",
            "api.runners.local",
        } <= loggers or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert {"api.access", "api.service", "api.runners.local"} <= loggers, loggers
    access = next(line for line in api_lines if line["logger"] == "api.access")
    assert access["route"] == "/upload" and access["status"] == 202 and access["component"] == "api"
    runner = next(line for line in api_lines if line["logger"] == "api.runners.local")
    assert runner["dataset_id"] == version_id
    # The processor's lines, as GET /datasets/{id}/logs serves them.
    logs = client.get(f"/datasets/{version_id}/logs")
    assert logs.status_code == 200
    proc_lines = _json_lines(logs.text)
    assert proc_lines and all(line["component"] == "processor" for line in proc_lines)
    assert all(line["request_id"] == rid for line in proc_lines)
    assert any(line.get("outcome") == "ready" for line in proc_lines)
    # /status shows it; a reprocess is a request of its own, and its version carries its id.
    assert client.get(f"/datasets/{version_id}/status").json()["options"]["request_id"] == rid
    again = client.post(
        f"/datasets/{version_id}/reprocess", headers={"X-Request-ID": f"{rid}-again"}
    )
    assert again.status_code == 202 and again.headers["X-Request-ID"] == f"{rid}-again"
    redone = wait_final(client, again.json()["id"])
    assert redone["status"] == "ready" and redone["options"]["request_id"] == f"{rid}-again"
    redone_lines = _json_lines(client.get(f"/datasets/{again.json()['id']}/logs").text)
    assert redone_lines and all(line["request_id"] == f"{rid}-again" for line in redone_lines)
    # Reads of the data carry their own ids.
    read = client.get(f"/datasets/{version_id}?limit=1", headers={"X-Request-ID": "read-1"})
    assert read.headers["X-Request-ID"] == "read-1"


def test_a_request_id_is_generated_when_missing_or_unusable(client: httpx.Client) -> None:
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    odd = client.get("/healthz", headers={"X-Request-ID": "x" * 500})
    assert re.fullmatch(r"[0-9a-f]{32}", odd.headers["X-Request-ID"])


def test_the_root_leads_to_the_ui(client: httpx.Client) -> None:
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 307 and r.headers["location"] == "/ui/datasets"
    assert client.get("/", follow_redirects=True).status_code == 200


def test_the_start_line_names_the_ui_and_the_docs(json_api: ApiServer) -> None:
    lines = _json_lines(json_api.log_path.read_text())
    ready = [str(line["event"]) for line in lines if "is ready" in str(line["event"])]
    assert (
        ready and f"{json_api.url}/ui/datasets" in ready[0] and f"{json_api.url}/docs" in ready[0]
    )


def test_the_job_of_an_upload_names_its_request_id() -> None:
    from api.runners.k8s_job import REQUEST_ID_KEY, build_job
    from core.catalog import Dataset, Status
    from core.settings import KubernetesSettings

    def dataset(rid: str) -> Dataset:
        from datetime import UTC, datetime

        return Dataset(
            id="a" * 32,
            filename="f.csv",
            raw_key="raw",
            sha256="0" * 64,
            size_bytes=10,
            status=Status.processing,
            error=None,
            options={"request_id": rid},
            rows_in=None,
            rows_out=None,
            rows_rejected=None,
            attempts=0,
            created_at=datetime.now(UTC),
            started_at=None,
            finished_at=None,
        )

    job = build_job(dataset("abc-123"), KubernetesSettings())
    assert job.metadata.labels[REQUEST_ID_KEY] == "abc-123"
    assert job.metadata.annotations[REQUEST_ID_KEY] == "abc-123"
    assert job.spec.template.metadata.labels[REQUEST_ID_KEY] == "abc-123"
    assert job.spec.template.metadata.annotations[REQUEST_ID_KEY] == "abc-123"
    # Not a valid label value: the annotation still has it.
    odd = build_job(dataset("a/b:c"), KubernetesSettings())
    assert REQUEST_ID_KEY not in odd.metadata.labels
    assert odd.metadata.annotations[REQUEST_ID_KEY] == "a/b:c"
    assert "--options" in job.spec.template.spec.containers[0].command
