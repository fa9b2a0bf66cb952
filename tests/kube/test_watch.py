"""The Job watcher against the real apiserver: 410 Gone, periodic re-lists, prompt stop."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client

from api.runners.k8s_job import SELECTOR, job_name, labels
from api.runners.k8s_watch import JobWatcher
from core.catalog import new_dataset_id
from tests.kube.conftest import NAMESPACE, Cluster, wait_for

# The watch cache's minimum history (DefaultEventFreshDuration, 75 s), plus a margin.
HISTORY_SECONDS = 80
MAX_EVENTS = 3000


class Seen:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.lists: list[set[str]] = []
        self.lock = threading.Lock()

    def on_job(self, kind: str, job: client.V1Job) -> None:
        with self.lock:
            self.events.append((kind, job.metadata.name))  # type: ignore[union-attr]

    def on_list(self, jobs: list[client.V1Job]) -> None:
        with self.lock:
            self.lists.append({j.metadata.name for j in jobs})  # type: ignore[union-attr]


def suspended_job(dataset_id: str) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name=job_name(dataset_id), labels=labels(dataset_id)),
        spec=client.V1JobSpec(
            suspend=True,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="processor", image="x")],
                )
            ),
        ),
    )


@pytest.fixture
def make_job(cluster: Cluster) -> Iterator[Callable[[], str]]:
    names: list[str] = []

    def make() -> str:
        dataset_id = new_dataset_id()
        cluster.batch.create_namespaced_job(NAMESPACE, suspended_job(dataset_id))
        names.append(job_name(dataset_id))
        return job_name(dataset_id)

    yield make
    for name in names:
        cluster.batch.delete_namespaced_job(name, NAMESPACE, propagation_policy="Background")


def watcher(cluster: Cluster, seen: Seen, *, poll: float, rv: str | None = None) -> JobWatcher:
    return JobWatcher(
        client.BatchV1Api(cluster.admin),
        NAMESPACE,
        SELECTOR,
        on_job=seen.on_job,
        on_list=seen.on_list,
        poll_seconds=poll,
        resource_version=rv,
    )


def _gone(cluster: Cluster, rv: str) -> bool:
    """Does a watch from `rv` end in 410 Gone?"""
    resp = cluster.batch.list_namespaced_job(
        NAMESPACE, watch=True, resource_version=rv, timeout_seconds=1, _preload_content=False
    )
    try:
        events = [json.loads(line) for line in resp.read().splitlines() if line.strip()]
    finally:
        resp.release_conn()
    return any(e["type"] == "ERROR" and e["object"].get("code") == 410 for e in events)


def test_a_resource_version_out_of_the_watch_history_is_gone_then_relisted(
    cluster: Cluster, make_job: Callable[[], str]
) -> None:
    """How watchers meet 410 in production: their resourceVersion left the history.

    The apiserver's watch cache keeps at least 75 s of events and grows while they
    are younger; once older events fill it, the oldest are evicted and watches from
    before them are answered 410 Gone.
    """
    old_rv = cluster.started_rv
    time.sleep(max(0.0, cluster.started_at + HISTORY_SECONDS - time.monotonic()))
    name = make_job()
    for batch in range(MAX_EVENTS // 50):
        if _gone(cluster, old_rv):
            break
        for i in range(50):
            cluster.batch.patch_namespaced_job(
                name, NAMESPACE, {"metadata": {"annotations": {"n": f"{batch}-{i}"}}}
            )
    else:
        pytest.fail(f"resourceVersion {old_rv} still in the watch history")
    seen = Seen()
    w = watcher(cluster, seen, poll=60, rv=old_rv)
    w.start()
    try:
        wait_for("410 and a re-list", lambda: w.expired >= 1 and w.lists >= 1, 30)
        assert name in seen.lists[0]
        after = make_job()
        wait_for("the new Job's event", lambda: ("ADDED", after) in seen.events, 30)
        assert w.errors == 0
    finally:
        w.stop()


def test_lists_again_every_poll_and_stops_promptly(
    cluster: Cluster, make_job: Callable[[], str]
) -> None:
    seen = Seen()
    w = watcher(cluster, seen, poll=1)
    w.start()
    try:
        wait_for("the first list", lambda: w.lists >= 1, 30)
        name = make_job()
        wait_for("three lists", lambda: w.lists >= 3, 30)
        assert any(name in listed for listed in seen.lists)
        assert ("ADDED", name) in seen.events
    finally:
        began = time.monotonic()
        w.stop()
        assert time.monotonic() - began < 3
        assert not w.alive


def test_lists_page_by_page_and_skips_what_the_runner_has_settled(
    cluster: Cluster, make_job: Callable[[], str]
) -> None:
    names = [make_job() for _ in range(5)]
    settled = set(names[:2])
    asked: list[str] = []

    def skip(raw: dict[str, Any]) -> bool:
        name = str(raw["metadata"]["name"])
        asked.append(name)
        return name in settled

    seen = Seen()
    w = JobWatcher(
        client.BatchV1Api(cluster.admin),
        NAMESPACE,
        SELECTOR,
        on_job=seen.on_job,
        on_list=seen.on_list,
        poll_seconds=60,
        skip=skip,
        page_size=2,
    )
    w.start()
    try:
        wait_for("the first list", lambda: w.lists >= 1, 30)
    finally:
        w.stop()
    # Every page was read (5 Jobs, 2 a page), and the settled Jobs never reached the runner.
    assert set(names) <= set(asked)
    assert set(names[2:]) <= seen.lists[0]
    assert not settled & seen.lists[0]
