"""The webhook outbox in the catalog: targets, enqueueing (once per version and URL,
never for history), claims shared by replicas, attempts and the log."""

from __future__ import annotations

import time
from datetime import timedelta

from core.catalog import ALL_DATASETS, Catalog, DeliveryState, new_dataset_id, now
from tests.catalog.conftest import MakeCatalog

HOOK = "https://hooks.example.com/a"
OTHER = "https://hooks.example.com/b"


def finished(catalog: Catalog, name: str, *, ready: bool = True) -> str:
    ds_id = new_dataset_id()
    catalog.add(
        dataset_id=ds_id, filename="f.csv", raw_key="k", sha256="0" * 64, size_bytes=1, name=name
    )
    assert catalog.mark_processing(ds_id)
    if ready:
        assert catalog.mark_ready(ds_id, rows_in=3, rows_out=3, rows_rejected=0)
    else:
        assert catalog.mark_failed(ds_id, "bad file")
    return ds_id


def test_set_webhooks_replaces_and_keeps_since(catalog: Catalog) -> None:
    first = catalog.set_webhooks("sales", [HOOK])
    assert [t.url for t in first] == [HOOK]
    time.sleep(0.01)
    second = catalog.set_webhooks("sales", [HOOK, OTHER, OTHER])
    assert [t.url for t in second] == [HOOK, OTHER]
    # A URL kept keeps the time it was configured at; a new one starts now.
    assert second[0].since == first[0].since
    assert second[1].since > first[0].since
    assert [t.url for t in catalog.set_webhooks("sales", [OTHER])] == [OTHER]
    assert catalog.webhooks("other") == []
    assert catalog.set_webhooks("sales", []) == []


def test_one_delivery_per_version_and_url(catalog: Catalog) -> None:
    catalog.set_webhooks("sales", [HOOK, OTHER])
    catalog.set_webhooks(ALL_DATASETS, [HOOK])
    ds_id = finished(catalog, "sales")
    # HOOK is both the dataset's and every dataset's: told once.
    assert catalog.enqueue_deliveries(ds_id) == 2
    assert catalog.enqueue_deliveries(ds_id) == 0
    assert catalog.enqueue_missed(100) == 0
    log, total = catalog.deliveries(name="sales")
    assert total == 2
    assert {d.url for d in log} == {HOOK, OTHER}
    assert all(d.state is DeliveryState.pending and d.attempts == 0 for d in log)
    assert all(d.event == "ready" and d.dataset_id == ds_id for d in log)
    # Another dataset hears only the every-dataset URL.
    other = finished(catalog, "other", ready=False)
    assert catalog.enqueue_deliveries(other) == 1
    [failed] = catalog.deliveries(dataset_id=other)[0]
    assert (failed.url, failed.event, failed.name) == (HOOK, "failed", "other")


def test_unfinished_and_earlier_versions_are_not_sent(catalog: Catalog) -> None:
    old = finished(catalog, "sales")
    catalog.set_webhooks("sales", [HOOK])
    # Finished before the URL was configured: configuring replays no history.
    assert catalog.enqueue_deliveries(old) == 0
    assert catalog.enqueue_missed(100) == 0
    queued = new_dataset_id()
    catalog.add(
        dataset_id=queued, filename="f", raw_key="k", sha256="0" * 64, size_bytes=1, name="sales"
    )
    assert catalog.enqueue_deliveries(queued) == 0
    assert catalog.deliveries(name="sales") == ([], 0)


def test_the_catch_up_finds_missed_versions_in_bounded_rounds(catalog: Catalog) -> None:
    catalog.set_webhooks(ALL_DATASETS, [HOOK])
    ids = [finished(catalog, f"d{i}") for i in range(5)]
    assert catalog.enqueue_missed(2) == 2
    assert catalog.enqueue_missed(2) == 2
    assert catalog.enqueue_missed(2) == 1
    assert catalog.enqueue_missed(2) == 0
    # Oldest first.
    assert [d.dataset_id for d in reversed(catalog.deliveries()[0])] == ids


def test_a_due_delivery_is_claimed_by_one_replica(make_catalog: MakeCatalog) -> None:
    one, two = make_catalog(), make_catalog()
    one.create_schema()
    one.set_webhooks("sales", [HOOK])
    ds_id = finished(one, "sales")
    one.enqueue_deliveries(ds_id)
    [claimed] = one.claim_deliveries(10, lease_seconds=0.5)
    assert two.claim_deliveries(10, lease_seconds=60) == []
    # A lease that ran out (its sender died) is claimed again, by one replica.
    time.sleep(0.6)
    [again] = two.claim_deliveries(10, lease_seconds=60)
    assert again.id == claimed.id
    assert one.claim_deliveries(10, lease_seconds=60) == []


def test_attempts_retry_fail_and_deliver(catalog: Catalog) -> None:
    catalog.set_webhooks("sales", [HOOK, OTHER])
    ds_id = finished(catalog, "sales")
    catalog.enqueue_deliveries(ds_id)
    first, second = catalog.claim_deliveries(10, lease_seconds=60)
    later = now() + timedelta(hours=1)
    catalog.record_attempt(first.id, delivered=False, status=500, error="boom", retry_at=later)
    catalog.record_attempt(second.id, delivered=False, status=None, error="x" * 5000, retry_at=None)
    by_id = {d.id: d for d in catalog.deliveries(name="sales")[0]}
    retrying, failed = by_id[first.id], by_id[second.id]
    assert (retrying.state, retrying.attempts, retrying.last_status) == (
        DeliveryState.pending,
        1,
        500,
    )
    assert retrying.next_attempt_at is not None
    assert abs((retrying.next_attempt_at - later).total_seconds()) < 1
    assert failed.state is DeliveryState.failed and failed.next_attempt_at is None
    assert failed.last_error is not None and len(failed.last_error) == 2000
    # Not due yet, and a failed one never is.
    assert catalog.claim_deliveries(10, lease_seconds=60) == []
    catalog.record_attempt(first.id, delivered=True, status=204, error=None, retry_at=None)
    done = {d.id: d for d in catalog.deliveries(dataset_id=ds_id)[0]}[first.id]
    assert (done.state, done.attempts, done.last_status, done.last_error) == (
        DeliveryState.delivered,
        2,
        204,
        None,
    )
    assert done.delivered_at is not None


def test_the_log_pages_and_goes_with_the_version(catalog: Catalog) -> None:
    catalog.set_webhooks("sales", [HOOK])
    ids = [finished(catalog, "sales") for _ in range(3)]
    for ds_id in ids:
        catalog.enqueue_deliveries(ds_id)
    page, total = catalog.deliveries(name="sales", offset=1, limit=1)
    assert total == 3 and [d.dataset_id for d in page] == [ids[1]]
    assert catalog.delete(ids[0])
    assert catalog.deliveries(name="sales")[1] == 2
    assert catalog.webhooks("sales") != []
    for ds_id in ids[1:]:
        catalog.delete(ds_id)
    # The name's URLs go with its last version.
    assert catalog.webhooks("sales") == []
    assert catalog.deliveries(name="sales") == ([], 0)
