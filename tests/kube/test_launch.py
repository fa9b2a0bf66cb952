"""Launching exactly once: 409 AlreadyExists, foreign Jobs, two API replicas."""

from __future__ import annotations

from pathlib import Path

import httpx
from kubernetes import client

from api.runners.k8s_job import build_job
from core.catalog import Catalog
from core.settings import KubernetesSettings
from tests.kube.conftest import (
    GOOD_CSV,
    IMAGE,
    NAMESPACE,
    Cluster,
    JobLog,
    StartApi,
    catalog_at,
    record,
    stage_upload,
    wait_final,
    wait_for,
)

SETTINGS = KubernetesSettings(
    namespace=NAMESPACE,
    image=IMAGE,
    node_selector={"type": "kwok"},
    tolerations=[{"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"}],
)


def test_resubmitted_dataset_follows_its_existing_job(
    cluster: Cluster, start_api: StartApi, tmp_path: Path, job_log: JobLog
) -> None:
    """The Job is there already (another replica, an earlier launch): 409, then adopted."""
    server = start_api(tmp_path / "api")
    catalog = catalog_at(tmp_path / "api")
    dataset_id, manifest = stage_upload(cluster, GOOD_CSV.replace(b";", b","))
    record(catalog, dataset_id, manifest)
    # Created before this API could: its own launch will get 409 AlreadyExists.
    queued = catalog.get(dataset_id)
    assert queued is not None
    cluster.executor.hold()
    existing = cluster.batch.create_namespaced_job(NAMESPACE, build_job(queued, SETTINGS))
    # The API tried to launch it (queued -> processing) while the Job was still running.
    wait_for("the API's launch", lambda: _status(catalog, dataset_id) == "processing")
    cluster.executor.release(dataset_id)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        status = wait_final(api, dataset_id)
    assert status["status"] == "ready", status
    assert job_log.uids(dataset_id) == {existing.metadata.uid}  # type: ignore[union-attr]
    assert len(cluster.executor.runs_of(dataset_id)) == 1


def _status(catalog: Catalog, dataset_id: str) -> str | None:
    found = catalog.get(dataset_id)
    return found.status.value if found else None


def test_a_foreign_job_with_our_name_is_refused(
    cluster: Cluster, start_api: StartApi, tmp_path: Path
) -> None:
    server = start_api(tmp_path / "api")
    catalog = catalog_at(tmp_path / "api")
    dataset_id, manifest = stage_upload(cluster, GOOD_CSV.replace(b";", b","))
    foreign = client.V1Job(
        metadata=client.V1ObjectMeta(
            name=f"mini-proc-{dataset_id}", labels={"app.kubernetes.io/name": "someone-else"}
        ),
        spec=client.V1JobSpec(
            suspend=True,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="x", image="busybox")],
                )
            ),
        ),
    )
    created = cluster.batch.create_namespaced_job(NAMESPACE, foreign)
    record(catalog, dataset_id, manifest)
    with httpx.Client(base_url=server.url, timeout=30) as api:
        status = wait_final(api, dataset_id)
    assert status["status"] == "failed"
    assert f"a Job named mini-proc-{dataset_id} already exists" in status["error"]
    assert "refusing to use it" in status["error"]
    # Left exactly as it was, and nothing ran.
    after = cluster.job(dataset_id)
    assert after is not None and after.metadata is not None and after.spec is not None
    assert after.metadata.uid == created.metadata.uid  # type: ignore[union-attr]
    assert after.metadata.labels == {"app.kubernetes.io/name": "someone-else"}
    assert after.spec.suspend is True
    assert cluster.executor.runs_of(dataset_id) == []
    cluster.batch.delete_namespaced_job(
        after.metadata.name, NAMESPACE, propagation_policy="Background"
    )


def test_two_replicas_launch_each_dataset_once(
    cluster: Cluster, start_api: StartApi, tmp_path: Path, job_log: JobLog
) -> None:
    """Both replicas see the same queued datasets at the same moment; one Job each."""
    shared = tmp_path / "shared"
    shared.mkdir()
    database = {"MINI_DATABASE_URL": f"sqlite:///{shared / 'catalog.sqlite3'}"}
    replicas = [
        start_api(tmp_path / f"replica-{i}", env=database, poll_seconds="1") for i in range(2)
    ]
    catalog = catalog_at(shared)
    staged = [stage_upload(cluster, GOOD_CSV.replace(b";", b",")) for _ in range(4)]
    for dataset_id, manifest in staged:
        # No upload request tells either replica: their reconcile polls race for them.
        record(catalog, dataset_id, manifest)
    for i, (dataset_id, _) in enumerate(staged):
        with httpx.Client(base_url=replicas[i % 2].url, timeout=30) as api:
            assert wait_final(api, dataset_id)["status"] == "ready"
    for dataset_id, _ in staged:
        assert len(job_log.of(dataset_id, "ADDED")) == 1
        assert len(job_log.uids(dataset_id)) == 1
        assert len(cluster.executor.runs_of(dataset_id)) == 1
