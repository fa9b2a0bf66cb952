"""The catalog's guarded transitions and dataset versions, on SQLite and PostgreSQL.

The `catalog` fixture (conftest.py) runs every test here once per backend.
"""

from __future__ import annotations

import pytest

from core.catalog import Catalog, CatalogError, Family, Status, new_dataset_id
from tests.catalog.threads import race


def add(catalog: Catalog, name: str | None = None, dataset_id: str | None = None) -> str:
    ds_id = dataset_id or new_dataset_id()
    catalog.add(
        dataset_id=ds_id,
        filename="a.csv",
        raw_key=f"{ds_id}/source.csv",
        sha256="0" * 64,
        size_bytes=3,
        name=name,
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

    def finish(i: int) -> bool:
        if i % 2:
            return catalog.mark_failed(ds_id, f"worker {i}")
        return catalog.mark_ready(ds_id, rows_in=i, rows_out=i, rows_rejected=0)

    wins = race(8, finish)
    assert wins.count(True) == 1
    ds = catalog.get(ds_id)
    assert ds is not None and ds.is_final


def test_families_newest_first_paginated(catalog: Catalog) -> None:
    names = [f"set-{i}" for i in range(5)]
    for name in names:
        add(catalog, name)
    page, total = catalog.families(offset=0, limit=2)
    assert total == 5
    assert [f.name for f in page] == names[::-1][:2]
    page, _ = catalog.families(offset=4, limit=2)
    assert [f.name for f in page] == [names[0]]


def test_with_status_and_delete(catalog: Catalog) -> None:
    queued, processing = add(catalog), add(catalog)
    catalog.mark_processing(processing)
    assert [d.id for d in catalog.with_status([Status.queued])] == [queued]
    both = catalog.with_status([Status.queued, Status.processing])
    assert {d.id for d in both} == {queued, processing}
    assert catalog.delete(queued)
    assert catalog.get(queued) is None
    assert not catalog.delete(queued)


def test_options_round_trip(catalog: Catalog) -> None:
    ds_id = new_dataset_id()
    options = {"delimiter": ";", "header_row": 2, "encoding": "cp1252"}
    catalog.add(
        dataset_id=ds_id,
        filename="b.csv",
        raw_key="k",
        sha256="f" * 64,
        size_bytes=5,
        options=options,
    )
    ds = catalog.get(ds_id)
    assert ds is not None and ds.options == options
    assert (ds.name, ds.version) == (None, None)


def test_duplicate_id_is_an_error_not_a_retry(catalog: Catalog) -> None:
    ds_id = add(catalog, name="sales")
    for name in (None, "sales", "other"):
        with pytest.raises(CatalogError, match="could not record dataset"):
            add(catalog, name=name, dataset_id=ds_id)
    assert [d.id for d in catalog.versions("sales")] == [ds_id]
    assert catalog.versions("other") == []


def test_versions_count_per_name(catalog: Catalog) -> None:
    first, second = add(catalog, "sales"), add(catalog, "sales")
    other = add(catalog, "costs")
    unnamed = [add(catalog), add(catalog)]
    assert [(d.id, d.name, d.version) for d in catalog.versions("sales")] == [
        (first, "sales", 1),
        (second, "sales", 2),
    ]
    ds = catalog.get(other)
    assert ds is not None and (ds.name, ds.version) == ("costs", 1)
    for ds_id in unnamed:
        ds = catalog.get(ds_id)
        assert ds is not None and (ds.name, ds.version) == (None, None)
    assert catalog.versions("nothing") == []


def test_latest_ready_is_never_hidden_by_newer_failed_or_unfinished(catalog: Catalog) -> None:
    def family(name: str) -> Family:
        return {f.name: f for f in catalog.families()[0]}[name]

    v1, v2, v3, v4 = (add(catalog, "sales") for _ in range(4))
    add(catalog, "costs")
    assert family("sales").latest_ready is None
    catalog.mark_ready(v1, rows_in=1, rows_out=1, rows_rejected=0)
    catalog.mark_ready(v2, rows_in=2, rows_out=2, rows_rejected=0)
    catalog.mark_failed(v3, "bad input")
    catalog.mark_processing(v4)
    sales = family("sales")
    assert sales.latest_ready is not None
    assert (sales.latest_ready.id, sales.latest_ready.version) == (v2, 2)
    assert (sales.latest.id, sales.latest.status, sales.versions) == (v4, Status.processing, 4)
    assert [d.status for d in catalog.versions("sales")] == [
        Status.ready,
        Status.ready,
        Status.failed,
        Status.processing,
    ]
    catalog.mark_ready(v4, rows_in=4, rows_out=4, rows_rejected=0)
    sales = family("sales")
    assert sales.latest_ready is not None
    assert (sales.latest_ready.id, sales.latest_ready.version) == (v4, 4)
    assert family("costs").latest_ready is None


def test_concurrent_uploads_under_one_name_get_distinct_versions(catalog: Catalog) -> None:
    ids = race(8, lambda _: add(catalog, "sales"))
    versions = catalog.versions("sales")
    assert sorted(d.id for d in versions) == sorted(ids)
    assert [d.version for d in versions] == list(range(1, 9))


def test_status_counts_every_status(catalog: Catalog) -> None:
    assert catalog.status_counts() == dict.fromkeys(Status, 0)
    ready, failed, queued = add(catalog), add(catalog), add(catalog)
    add(catalog)
    catalog.mark_processing(ready)
    catalog.mark_ready(ready, rows_in=1, rows_out=1, rows_rejected=0)
    catalog.mark_processing(failed)
    catalog.mark_failed(failed, "bad")
    catalog.mark_processing(queued)
    counts = catalog.status_counts()
    assert counts == {
        **dict.fromkeys(Status, 0),
        Status.ready: 1,
        Status.failed: 1,
        Status.processing: 1,
        Status.queued: 1,
    }
