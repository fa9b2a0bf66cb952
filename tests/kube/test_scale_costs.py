"""What the Kubernetes runner costs per file may not grow with the Jobs still listed
(they stay until their TTL: thousands at a steady rate) nor with the queued backlog.
The figures at scale: bench/bench_k8s_scale.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from kubernetes import client

from api.options import PACKED_OPTION
from api.runners.k8s_job import job_name, labels
from api.runners.kubernetes import KubernetesRunner
from core import keys
from core.catalog import SqlCatalog, Status, new_dataset_id
from core.settings import KubernetesSettings, RunnerSettings, Settings
from core.storage.factory import make_store


class CountingCatalog:
    """The real catalog, counting the calls the runner makes and the rows it reads."""

    def __init__(self, inner: SqlCatalog) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.rows_read = 0

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.inner, name)

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            found = method(*args, **kwargs)
            if isinstance(found, list):
                self.rows_read += len(found)
            return found

        return counted


def _runner(
    tmp_path: Path, max_active_jobs: int = 0, max_active_large_jobs: int = 0
) -> tuple[KubernetesRunner, CountingCatalog]:
    caps = KubernetesSettings(
        max_active_jobs=max_active_jobs, max_active_large_jobs=max_active_large_jobs
    )
    settings = Settings(data_dir=tmp_path, runner=RunnerSettings(kubernetes=caps))
    inner = SqlCatalog.from_url(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    inner.create_schema()
    catalog = CountingCatalog(inner)
    runner = KubernetesRunner(settings, catalog, make_store(settings))  # type: ignore[arg-type]
    return runner, catalog


def _add(
    catalog: CountingCatalog,
    status: Status = Status.queued,
    size_bytes: int = 1,
    packed: bool = False,
) -> str:
    dataset_id = new_dataset_id()
    catalog.inner.add(
        dataset_id=dataset_id,
        filename="a.csv",
        raw_key=keys.raw_key(dataset_id),
        sha256="0" * 64,
        size_bytes=size_bytes,
        name=f"n-{dataset_id}",
        options={PACKED_OPTION: packed},
    )
    if status is Status.processing:
        catalog.inner.mark_processing(dataset_id)
    if status is Status.ready:
        catalog.inner.mark_processing(dataset_id)
        catalog.inner.mark_ready(dataset_id, rows_in=1, rows_out=1, rows_rejected=0)
    return dataset_id


def _finished_job(dataset_id: str) -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(
            name=job_name(dataset_id), labels=labels(dataset_id), uid=f"uid-{dataset_id}"
        ),
        status=client.V1JobStatus(
            succeeded=1,
            conditions=[
                client.V1JobCondition(type="Complete", status="True", reason="CompletionsReached")
            ],
        ),
    )


def test_finished_jobs_of_final_datasets_are_read_from_the_catalog_once(tmp_path: Path) -> None:
    runner, catalog = _runner(tmp_path)
    jobs = [_finished_job(_add(catalog, Status.ready)) for _ in range(20)]
    raw = [client.ApiClient().sanitize_for_serialization(j) for j in jobs]
    for _ in range(3):
        # What a list does: the watcher asks about each Job, then hands over the rest.
        handed = [j for j, r in zip(jobs, raw, strict=True) if not runner._skip_listed(r)]
        runner._reconcile(handed)
        for job in jobs:
            runner._on_job("MODIFIED", job)
    assert catalog.calls["get"] == len(jobs)
    # A deleted Job is forgotten; one recreated under the same name (new uid) is read.
    runner._on_job("DELETED", jobs[0])
    assert not runner._skip_listed(raw[0])


def test_only_settled_jobs_still_listed_are_remembered(tmp_path: Path) -> None:
    runner, catalog = _runner(tmp_path)
    kept, gone = (_finished_job(_add(catalog, Status.ready)) for _ in range(2))
    runner._reconcile([kept, gone])
    assert runner._settled == {kept.metadata.uid, gone.metadata.uid}
    # The next list has only `kept` (the TTL deleted `gone`, its event missed).
    assert runner._skip_listed(client.ApiClient().sanitize_for_serialization(kept))
    runner._reconcile([])
    assert runner._settled == {kept.metadata.uid}


def test_a_finished_job_reads_only_as_many_queued_datasets_as_slots_are_free(
    tmp_path: Path,
) -> None:
    runner, catalog = _runner(tmp_path, max_active_jobs=3)
    backlog = [_add(catalog) for _ in range(60)]
    runner._launch_waiting()
    assert catalog.rows_read <= 3
    assert sorted(runner._pending) == sorted(backlog[:3])


LARGE = 64 * 2**20


def test_large_uploads_over_their_cap_wait_without_holding_up_small_ones(
    tmp_path: Path,
) -> None:
    """MAX_ACTIVE_LARGE_JOBS: the oldest queued uploads are large (or packed) and one
    large Job already runs at a cap of 1; the small ones behind them take the free slots."""
    runner, catalog = _runner(tmp_path, max_active_jobs=4, max_active_large_jobs=1)
    _add(catalog, Status.processing, size_bytes=LARGE)
    large = [_add(catalog, size_bytes=LARGE), _add(catalog, packed=True)]
    small = [_add(catalog) for _ in range(5)]
    runner._launch_waiting()
    assert sorted(runner._pending) == sorted(small[:3])
    for dataset_id in large:
        dataset = catalog.inner.get(dataset_id)
        assert dataset is not None
        assert not runner._may_start(dataset, runner._packed(dataset))


def test_a_free_large_slot_goes_to_the_oldest_large_upload(tmp_path: Path) -> None:
    runner, catalog = _runner(tmp_path, max_active_jobs=4, max_active_large_jobs=2)
    _add(catalog, Status.processing, size_bytes=LARGE)
    first, second = _add(catalog, size_bytes=LARGE), _add(catalog, size_bytes=LARGE)
    tiny = _add(catalog)
    runner._launch_waiting()
    assert sorted(runner._pending) == sorted([first, tiny])
    assert second not in runner._pending
    dataset = catalog.inner.get(tiny)
    assert dataset is not None and runner._may_start(dataset, packed=False)


def test_the_packed_verdict_recorded_at_upload_spares_the_read(tmp_path: Path) -> None:
    runner, catalog = _runner(tmp_path)
    for packed in (True, False):
        dataset = catalog.inner.get(_add(catalog, packed=packed))
        assert dataset is not None
        # No raw object exists: a read would find nothing and answer False.
        assert runner._packed(dataset) is packed


def test_without_caps_every_queued_dataset_is_submitted(tmp_path: Path) -> None:
    """A lost launch, or a dataset the reconciler re-queued, starts at the next poll."""
    runner, catalog = _runner(tmp_path)
    queued = [_add(catalog) for _ in range(5)] + [_add(catalog, size_bytes=LARGE)]
    runner._launch_waiting()
    assert sorted(runner._pending) == sorted(queued)


def test_a_large_cap_alone_holds_only_the_large_ones(tmp_path: Path) -> None:
    runner, catalog = _runner(tmp_path, max_active_large_jobs=1)
    _add(catalog, Status.processing, size_bytes=LARGE)
    large = _add(catalog, size_bytes=LARGE)
    small = [_add(catalog) for _ in range(3)]
    runner._launch_waiting()
    assert sorted(runner._pending) == sorted(small)
    assert large not in runner._pending
