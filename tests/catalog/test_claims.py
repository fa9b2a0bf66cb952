"""Claims: a version in processing belongs to one runner (owner) while its heartbeat is
fresh; another runner may take it only once the heartbeat is stale. On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from core.catalog import CLAIM_STALE_SECONDS, DatasetRow, SqlCatalog, Status, new_dataset_id, now


def _queued(catalog: SqlCatalog) -> str:
    ds = new_dataset_id()
    catalog.add(dataset_id=ds, filename="a.csv", raw_key="k", sha256="0" * 64, size_bytes=1)
    return ds


def _age_heartbeat(catalog: SqlCatalog, ds: str, seconds: float) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(
            sa.update(DatasetRow.__table__)
            .where(DatasetRow.__table__.c.id == ds)
            .values(heartbeat_at=now() - timedelta(seconds=seconds))
        )


def test_one_owner_at_a_time(catalog: SqlCatalog) -> None:
    ds = _queued(catalog)
    assert catalog.mark_processing(ds, owner="local:h:1:a")
    claimed = catalog.get(ds)
    assert claimed is not None and claimed.claimed_by == "local:h:1:a"
    assert claimed.heartbeat_at is not None
    # Another runner cannot take a claim whose heartbeat is fresh ...
    assert not catalog.mark_processing(ds, owner="local:h:2:b")
    # ... the owner may (a retried attempt) ...
    assert catalog.mark_processing(ds, owner="local:h:1:a")
    # ... and anyone may once it went silent.
    _age_heartbeat(catalog, ds, CLAIM_STALE_SECONDS + 5)
    assert catalog.mark_processing(ds, owner="local:h:2:b")
    assert catalog.get(ds).claimed_by == "local:h:2:b"  # type: ignore[union-attr]


def test_heartbeat_refreshes_only_the_owners_claims(catalog: SqlCatalog) -> None:
    mine, theirs = _queued(catalog), _queued(catalog)
    catalog.mark_processing(mine, owner="me")
    catalog.mark_processing(theirs, owner="them")
    _age_heartbeat(catalog, mine, 300)
    _age_heartbeat(catalog, theirs, 300)
    assert catalog.heartbeat([mine, theirs], "me") == 1
    fresh = catalog.get(mine)
    stale = catalog.get(theirs)
    assert fresh is not None and stale is not None
    assert fresh.heartbeat_at is not None and stale.heartbeat_at is not None
    assert fresh.heartbeat_at > stale.heartbeat_at + timedelta(seconds=200)
    assert catalog.heartbeat([], "me") == 0


def test_requeue_guards_the_claim(catalog: SqlCatalog) -> None:
    ds = _queued(catalog)
    catalog.mark_processing(ds, owner="new-owner")
    # A runner that saw the old owner's claim must not requeue the new owner's work.
    assert not catalog.requeue(ds, owner="old-owner")
    assert catalog.get(ds).status is Status.processing  # type: ignore[union-attr]
    assert catalog.requeue(ds, owner="new-owner")
    requeued = catalog.get(ds)
    assert requeued is not None and requeued.status is Status.queued
    assert requeued.claimed_by is None
