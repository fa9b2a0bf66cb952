"""MINI_RUNNER__KUBERNETES__MAX_ACTIVE_JOBS on the real control plane: beyond the cap
uploads wait `queued` with no Job, and start, oldest first, as Jobs finish."""

from __future__ import annotations

import time

import httpx

from tests.kube.conftest import (
    GOOD_CSV,
    NAMESPACE,
    Cluster,
    StartApi,
    conditions,
    upload,
    wait_final,
    wait_for,
)

CAP = 2


def _unfinished_jobs(cluster: Cluster, ids: list[str]) -> set[str]:
    jobs = cluster.batch.list_namespaced_job(
        NAMESPACE, label_selector="app.kubernetes.io/component=processor"
    ).items
    return {
        j.metadata.labels["mini-pipeline/dataset-id"]
        for j in jobs
        if j.metadata.labels.get("mini-pipeline/dataset-id") in ids
        and not {"Complete", "Failed"} & set(conditions(j))
    }


def test_uploads_beyond_the_cap_stay_queued_and_start_as_jobs_finish(
    cluster: Cluster, start_api: StartApi
) -> None:
    server = start_api(max_active_jobs=str(CAP))
    for _ in range(4):
        cluster.executor.hold()
    with httpx.Client(base_url=server.url, timeout=30) as api:
        ids = [upload(api, GOOD_CSV, name=f"f{i}.csv", delimiter=";") for i in range(4)]

        def statuses() -> list[str]:
            return [api.get(f"/datasets/{i}/status").json()["status"] for i in ids]

        wait_for("two pods to run", lambda: set(ids[:2]) <= set(cluster.executor.held()))
        # Longer than the poll interval (2 s): the waiting ones are not launched by a re-list.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            assert statuses()[2:] == ["queued", "queued"]
            assert cluster.job(ids[2]) is None and cluster.job(ids[3]) is None
            assert len(_unfinished_jobs(cluster, ids)) <= CAP
            time.sleep(0.25)
        assert statuses()[:2] == ["processing", "processing"]

        # One Job ends: the oldest waiting upload starts, the newest still waits.
        cluster.executor.release(ids[0])
        assert wait_final(api, ids[0])["status"] == "ready"
        wait_for("the third upload's pod", lambda: ids[2] in cluster.executor.held())
        assert statuses()[3] == "queued" and cluster.job(ids[3]) is None
        assert len(_unfinished_jobs(cluster, ids)) <= CAP

        for dataset_id in ids[1:3]:
            cluster.executor.release(dataset_id)
        wait_for("the fourth upload's pod", lambda: ids[3] in cluster.executor.held())
        cluster.executor.release(ids[3])
        assert [wait_final(api, i)["status"] for i in ids] == ["ready"] * 4
    assert all(len(cluster.executor.runs_of(i)) == 1 for i in ids)
