"""Issue 15 on the real control plane: the Job of an upload carries its request id (label,
annotation, every processor line), and /metrics counts Job launches, retries and
failures and the Kubernetes runner's outcomes."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.kube.conftest import CONFIG_MAP, GOOD_CSV, NAMESPACE, Cluster, StartApi, wait_final

REQUEST_ID_KEY = "mini-pipeline/request-id"


def metrics(api: httpx.Client) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    samples = {}
    for family in text_string_to_metric_families(api.get("/metrics").text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


@pytest.fixture
def json_logs(cluster: Cluster) -> Iterator[None]:
    """MINI_LOG_FORMAT=json in the ConfigMap the Jobs read (as k8s/base/config.yaml sets
    it), for this test only: the session's other tests read the plain lines."""
    core = cluster.core
    before = dict(core.read_namespaced_config_map(CONFIG_MAP, NAMESPACE).data or {})
    core.patch_namespaced_config_map(
        CONFIG_MAP, NAMESPACE, {"data": {**before, "MINI_LOG_FORMAT": "json"}}
    )
    try:
        yield
    finally:
        core.replace_namespaced_config_map(
            CONFIG_MAP,
            NAMESPACE,
            {"metadata": {"name": CONFIG_MAP}, "data": before},
        )


@pytest.mark.usefixtures("json_logs")
def test_a_retried_job_follows_its_request_id_and_is_counted(
    cluster: Cluster, start_api: StartApi
) -> None:
    server = start_api(env={"MINI_LOG_FORMAT": "json"})
    cluster.executor.crash_first_attempt()
    rid = "kube-trace-1"
    with httpx.Client(base_url=server.url, timeout=30) as api:
        r = api.post(
            "/upload",
            files={"file": ("data.csv", GOOD_CSV)},
            params={"delimiter": ";"},
            headers={"X-Request-ID": rid},
        )
        assert r.status_code == 202 and r.headers["X-Request-ID"] == rid
        dataset_id = r.json()["id"]
        assert wait_final(api, dataset_id, timeout=180)["status"] == "ready"
        logs = api.get(f"/datasets/{dataset_id}/logs").text.splitlines()
        samples = metrics(api)
    job = cluster.job(dataset_id)
    assert job is not None and job.metadata is not None and job.spec is not None
    assert job.metadata.labels[REQUEST_ID_KEY] == rid
    assert job.metadata.annotations[REQUEST_ID_KEY] == rid
    assert job.spec.template.metadata.annotations[REQUEST_ID_KEY] == rid  # type: ignore[union-attr]
    # The processor's own lines (not the pod headers, nor the crash the executor fakes).
    lines = [json.loads(line) for line in logs if line.startswith("{")]
    assert lines and all(line["request_id"] == rid for line in lines)
    assert any(line.get("outcome") == "ready" for line in lines)
    # The API's line for the Job it created names the request too.
    api_lines = [
        json.loads(line)
        for line in server.log_path.read_text().splitlines()
        if line.startswith("{")
    ]
    assert any(
        line.get("request_id") == rid and "created Job" in str(line["event"]) for line in api_lines
    )
    assert samples[("mini_job_launches_total", ())] == 1
    assert samples[("mini_job_retries_total", ())] == 1
    ready = (("outcome", "ready"), ("runner", "kubernetes"))
    assert samples[("mini_processing_runs_total", ready)] == 1
    assert samples[("mini_processor_rows_total", (("kind", "out"),))] == 3


def test_a_job_out_of_retries_is_a_counted_failure(cluster: Cluster, start_api: StartApi) -> None:
    server = start_api(backoff_limit="0")
    cluster.executor.crash_first_attempt()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        r = api.post("/upload", files={"file": ("data.csv", GOOD_CSV)})
        assert r.status_code == 202
        assert wait_final(api, r.json()["id"])["status"] == "failed"
        samples = metrics(api)
    assert samples[("mini_job_launches_total", ())] == 1
    assert samples[("mini_job_failures_total", (("reason", "BackoffLimitExceeded"),))] == 1
    failed = (("outcome", "failed"), ("runner", "kubernetes"))
    assert samples[("mini_processing_runs_total", failed)] == 1
