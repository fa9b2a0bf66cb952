"""The catalog's guarded transitions (SQLite; PostgreSQL joins with the Kubernetes issue)."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from processor.catalog import Catalog, Status, new_dataset_id


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    cat = Catalog.from_url(f"sqlite:///{tmp_path / 'c.sqlite3'}")
    cat.create_schema()
    return cat


def add(catalog: Catalog) -> str:
    ds_id = new_dataset_id()
    catalog.add(
        dataset_id=ds_id, filename="a.csv", raw_key=f"{ds_id}/source.csv", sha256="0" * 64,
        size_bytes=3,
    )
    return ds_id


def test_happy_path(catalog: Catalog) -> None:
    ds_id = add(catalog)
    ds = catalog.get(ds_id)
    assert ds is not None and ds.status is Status.queued and ds.created_at.tzinfo is not None
    assert catalog.mark_processing(ds_id)
    assert catalog.mark_ready(ds_id, rows_in=3, rows_out=2, rows_rejected=1)
    ds = catalog.get(ds_id)
    assert ds is not None
    assert (ds.status, ds.rows_in, ds.rows_out, ds.rows_rejected) == (Status.ready, 3, 2, 1)
    assert ds.started_at and ds.finished_at and ds.finished_at >= ds.started_at
    assert ds.attempts == 1


def test_final_states_never_move(catalog: Catalog) -> None:
    ready, failed = add(catalog), add(catalog)
    catalog.mark_ready(ready, rows_in=1, rows_out=1, rows_rejected=0)
    catalog.mark_failed(failed, "bad input")
    for ds_id in (ready, failed):
        before = catalog.get(ds_id)
        assert not catalog.mark_processing(ds_id)
        assert not catalog.requeue(ds_id)
        assert not catalog.mark_failed(ds_id, "late failure")
        assert not catalog.mark_ready(ds_id, rows_in=9, rows_out=9, rows_rejected=9)
        assert catalog.get(ds_id) == before


def test_requeue_only_from_processing(catalog: Catalog) -> None:
    ds_id = add(catalog)
    assert not catalog.requeue(ds_id)
    catalog.mark_processing(ds_id)
    assert catalog.requeue(ds_id)
    ds = catalog.get(ds_id)
    assert ds is not None and ds.status is Status.queued


def test_only_one_concurrent_finisher_wins(catalog: Catalog) -> None:
    ds_id = add(catalog)
    catalog.mark_processing(ds_id)
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def finish(i: int) -> None:
        barrier.wait()
        if i % 2:
            wins.append(catalog.mark_failed(ds_id, f"worker {i}"))
        else:
            wins.append(catalog.mark_ready(ds_id, rows_in=i, rows_out=i, rows_rejected=0))

    threads = [threading.Thread(target=finish, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_list_newest_first_paginated(catalog: Catalog) -> None:
    ids = [add(catalog) for _ in range(5)]
    page, total = catalog.page(offset=0, limit=2)
    assert total == 5
    assert [d.id for d in page] == ids[::-1][:2]
    page, _ = catalog.page(offset=4, limit=2)
    assert [d.id for d in page] == [ids[0]]
