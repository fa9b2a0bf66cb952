"""The API with the Kubernetes runner, end to end on the real control plane.

Uploads go through HTTP to a real API process; its runner creates Jobs with its
own ServiceAccount token; the real job controller runs them through the pod
executor; processors write to SeaweedFS; the API's watcher records the results.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import httpx
from kubernetes import client

from tests.kube.conftest import (
    GOOD_CSV,
    NAMESPACE,
    SHORT_CSV,
    Cluster,
    JobLog,
    StartApi,
    catalog_at,
    conditions,
    upload,
    wait_final,
    wait_for,
)
from tests.servers.executor import CRASH_MESSAGE


def test_happy_path(cluster: Cluster, start_api: StartApi) -> None:
    server = start_api()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        status = wait_final(api, dataset_id)
        assert status["status"] == "ready", status
        assert (status["rows_in"], status["rows_out"]) == (3, 3)
        body = api.get(f"/datasets/{dataset_id}").json()
        assert [c["name"] for c in body["columns"]] == ["id", "name", "score"]
        assert body["rows"] == [
            {"id": 1, "name": "alpha", "score": 1.5},
            {"id": 2, "name": "beta", "score": 2.5},
            {"id": 3, "name": "gamma", "score": 3.5},
        ]
        logs = api.get(f"/datasets/{dataset_id}/logs")
        assert logs.status_code == 200
        assert logs.headers["content-type"].startswith("text/plain")
        lines = logs.text.splitlines()
    # Read through pods/log (the executor's kubelet endpoint), before any TTL.
    assert lines[0].startswith("--- pod mini-proc-") and "attempt 1, exit code 0" in lines[0]
    assert f"processing dataset {dataset_id}" in lines
    assert lines[-1] == f"dataset {dataset_id} ready: 3 rows in, 3 out, 0 rejected"

    job = cluster.job(dataset_id)
    assert job is not None and job.metadata is not None and job.status is not None
    assert job.metadata.labels["mini-pipeline/dataset-id"] == dataset_id
    assert "Complete" in conditions(job)
    assert job.status.succeeded == 1 and not job.status.failed
    runs = cluster.executor.runs_of(dataset_id)
    assert [r.exit_code for r in runs] == [0]
    # The processor never had catalog access: the API recorded its manifest.
    assert job.spec is not None
    env = {e.name: e.value for e in job.spec.template.spec.containers[0].env or []}  # type: ignore[union-attr]
    assert env["MINI_PROCESSOR__UPDATE_CATALOG"] == "false"


def test_happy_path_job_seen_by_the_admin(
    cluster: Cluster, start_api: StartApi, job_log: JobLog
) -> None:
    """One Job, one pod, created once; the Job object is the API's."""
    server = start_api()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        assert wait_final(api, dataset_id)["status"] == "ready"
    assert len(job_log.of(dataset_id, "ADDED")) == 1
    assert len(job_log.uids(dataset_id)) == 1
    assert len(cluster.executor.runs_of(dataset_id)) == 1


def test_bad_input_fails_once_with_the_processors_message(
    cluster: Cluster, start_api: StartApi
) -> None:
    server = start_api()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, SHORT_CSV, header_row=50)
        status = wait_final(api, dataset_id)
        logs = api.get(f"/datasets/{dataset_id}/logs").text
    assert status["status"] == "failed"
    # The option reached the Job, and the processor's own words reached the catalog.
    assert status["error"] == "header_row 50 is past the end of the file"
    # Exit code 2 matched the FailJob rule: no second pod.
    assert [r.exit_code for r in cluster.executor.runs_of(dataset_id)] == [2]
    job = wait_for("the Job to be Failed", lambda: _failed_job(cluster, dataset_id))
    assert conditions(job)["Failed"] == "PodFailurePolicy"
    assert job.status.failed == 1
    assert f"error: {status['error']}" in logs.splitlines()


def _failed_job(cluster: Cluster, dataset_id: str) -> client.V1Job | None:
    job = cluster.job(dataset_id)
    return job if job is not None and "Failed" in conditions(job) else None


def test_crash_once_is_retried_to_ready(cluster: Cluster, start_api: StartApi) -> None:
    server = start_api()
    cluster.executor.crash_first_attempt()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        status = wait_final(api, dataset_id, timeout=180)
        logs = api.get(f"/datasets/{dataset_id}/logs").text.splitlines()
    assert status["status"] == "ready", status
    runs = cluster.executor.runs_of(dataset_id)
    assert [(r.crashed_on_purpose, r.exit_code) for r in runs] == [(True, 1), (False, 0)]
    job = cluster.job(dataset_id)
    assert job is not None and job.status is not None
    assert (job.status.failed, job.status.succeeded) == (1, 1)
    # Both attempts' lines, oldest first, each under its pod's header.
    headers = [line for line in logs if line.startswith("--- pod ")]
    assert [h.rsplit("(", 1)[1] for h in headers] == [
        "attempt 1, exit code 1) ---",
        "attempt 2, exit code 0) ---",
    ]
    assert CRASH_MESSAGE in logs
    assert logs[-1] == f"dataset {dataset_id} ready: 3 rows in, 3 out, 0 rejected"


def test_no_retries_left_says_so_with_the_last_log_line(
    cluster: Cluster, start_api: StartApi
) -> None:
    server = start_api(backoff_limit="0")
    cluster.executor.crash_first_attempt()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV)
        status = wait_final(api, dataset_id)
    assert status["status"] == "failed"
    assert status["error"] == (
        "processing failed 1 time; no retries left (backoffLimit 0); "
        f"the last attempt exited with code 1; last log line: {CRASH_MESSAGE}"
    )


def test_deadline_exceeded(cluster: Cluster, start_api: StartApi) -> None:
    server = start_api(active_deadline_seconds="4")
    cluster.executor.hold()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV)
        status = wait_final(api, dataset_id)
    assert status["status"] == "failed"
    assert status["error"].startswith(
        "processing did not finish within 4s (activeDeadlineSeconds exceeded)"
    )
    # The job controller deleted the pod; the executor killed it as a kubelet would.
    wait_for("the pod to be gone", lambda: not _pods_of(cluster, dataset_id))


def _pods_of(cluster: Cluster, dataset_id: str) -> list[client.V1Pod]:
    return cluster.core.list_namespaced_pod(
        NAMESPACE, label_selector=f"mini-pipeline/dataset-id={dataset_id}"
    ).items


def test_ttl_deletes_the_job_only_after_status_and_logs_are_saved(
    cluster: Cluster, start_api: StartApi, job_log: JobLog
) -> None:
    server = start_api(ttl_seconds_after_finished="2")
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        wait_for("the TTL to delete the Job", lambda: job_log.of(dataset_id, "DELETED"), 60)
        status = api.get(f"/datasets/{dataset_id}/status").json()
        logs = api.get(f"/datasets/{dataset_id}/logs").text.splitlines()
    (_, deleted_at, last) = job_log.of(dataset_id, "DELETED")[0]
    assert status["status"] == "ready"
    finished_at = datetime.fromisoformat(status["finished_at"]).timestamp()
    assert finished_at <= deleted_at
    # The TTL controller deleted it, not the runner: ttl seconds after completion.
    completed = last.status.completion_time.timestamp()
    assert deleted_at - completed >= 2 - 1
    # These lines exist only in the pod's log, gone with the Job: saved before.
    assert f"processing dataset {dataset_id}" in logs
    assert logs[-1] == f"dataset {dataset_id} ready: 3 rows in, 3 out, 0 rejected"
    assert cluster.job(dataset_id) is None


def test_api_restart_mid_job_recovers_the_status(
    cluster: Cluster, start_api: StartApi, tmp_path: Path
) -> None:
    data_dir = tmp_path / "restarting-api"
    server = start_api(data_dir)
    cluster.executor.hold()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
    wait_for("the pod to run", lambda: dataset_id in cluster.executor.held())
    server.stop()
    cluster.executor.release(dataset_id)
    job = wait_for("the Job to complete", lambda: _complete_job(cluster, dataset_id))
    assert job is not None
    # Nobody recorded it yet.
    assert catalog_at(data_dir).get(dataset_id).status.value == "processing"  # type: ignore[union-attr]
    server = start_api(data_dir)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        status = wait_final(api, dataset_id)
        logs = api.get(f"/datasets/{dataset_id}/logs").text.splitlines()
        rows = api.get(f"/datasets/{dataset_id}").json()["rows"]
    assert status["status"] == "ready"
    assert len(rows) == 3
    assert logs[-1] == f"dataset {dataset_id} ready: 3 rows in, 3 out, 0 rejected"
    assert len(cluster.executor.runs_of(dataset_id)) == 1


def _complete_job(cluster: Cluster, dataset_id: str) -> client.V1Job | None:
    job = cluster.job(dataset_id)
    return job if job is not None and "Complete" in conditions(job) else None


def test_job_deleted_while_the_api_was_down_is_recorded_from_its_manifest(
    cluster: Cluster, start_api: StartApi, tmp_path: Path, job_log: JobLog
) -> None:
    data_dir = tmp_path / "absent-api"
    server = start_api(data_dir, ttl_seconds_after_finished="1")
    cluster.executor.hold()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
    wait_for("the pod to run", lambda: dataset_id in cluster.executor.held())
    server.stop()
    cluster.executor.release(dataset_id)
    wait_for("the TTL to delete the Job", lambda: job_log.of(dataset_id, "DELETED"), 60)
    server = start_api(data_dir, ttl_seconds_after_finished="1")
    with httpx.Client(base_url=server.url, timeout=30) as api:
        status = wait_final(api, dataset_id, timeout=60)
        logs = api.get(f"/datasets/{dataset_id}/logs").text
    assert status["status"] == "ready"
    assert status["rows_out"] == 3
    assert "deleted before its logs could be saved" in logs
    # Recorded, not run again.
    assert len(cluster.executor.runs_of(dataset_id)) == 1
    assert len(job_log.of(dataset_id, "ADDED")) == 1


def test_versions_run_in_order_and_the_job_gets_its_baseline(
    cluster: Cluster, start_api: StartApi, job_log: JobLog
) -> None:
    """Two versions of one dataset sent back to back: the second Job is created only
    after the first version is final, and its options name the first as the baseline
    (the schema contract of issue 11 holds on Kubernetes too)."""
    server = start_api()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        first = upload(api, GOOD_CSV, delimiter=";", name="ordered.csv")
        r = api.post(
            "/upload",
            files={"file": ("ordered.csv", GOOD_CSV)},
            params={"delimiter": ";", "name": first},  # an unnamed dataset's name is its id
        )
        assert r.status_code == 202 and r.json()["version"] == 2, r.text
        second = r.json()["id"]
        done_first = wait_final(api, first)
        done_second = wait_final(api, second)
    assert (done_first["status"], done_second["status"]) == ("ready", "ready")
    assert done_second["options"]["baseline"] == {"id": first, "version": 1}
    created = job_log.of(second, "ADDED")
    assert len(created) == 1
    finished = datetime.fromisoformat(done_first["finished_at"]).timestamp()
    assert created[0][1] >= finished - 1.0  # not created while version 1 ran
    container = created[0][2].spec.template.spec.containers[0]
    text = " ".join([*(container.command or []), *(container.args or [])])
    assert '"baseline"' in text and first in text


def test_a_gzip_upload_gets_a_job_sized_for_what_it_unpacks_to(
    cluster: Cluster, start_api: StartApi
) -> None:
    """The runner reads the upload's first bytes: a gzip gets the packed sizing and the
    unpack cap; the same table as plain text does not."""
    import gzip

    server = start_api()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        packed = upload(api, gzip.compress(GOOD_CSV), name="data.csv.gz", delimiter=";")
        plain = upload(api, GOOD_CSV, delimiter=";")
        for dataset_id in (packed, plain):
            assert wait_final(api, dataset_id)["status"] == "ready"
    envs = {}
    for dataset_id in (packed, plain):
        job = cluster.job(dataset_id)
        assert job is not None and job.spec is not None
        container = job.spec.template.spec.containers[0]  # type: ignore[union-attr]
        envs[dataset_id] = {e.name for e in container.env or []}
        # Recorded at upload from the first bytes, passed on with the options.
        options = json.loads(container.command[container.command.index("--options") + 1])
        assert options["packed"] is (dataset_id == packed)
        limit = container.resources.limits["ephemeral-storage"]
        if dataset_id == packed:
            assert limit == job.spec.template.spec.volumes[0].empty_dir.size_limit  # type: ignore[union-attr]
    assert "MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES" in envs[packed]
    assert "MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES" not in envs[plain]
