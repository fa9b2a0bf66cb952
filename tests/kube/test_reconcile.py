"""`python -m processor reconcile`, the CronJob's command, as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import update

from core import keys
from core.catalog import Catalog, DatasetRow, SqlCatalog
from tests.kube.conftest import (
    GOOD_CSV,
    ROOT,
    Cluster,
    StartApi,
    catalog_at,
    record,
    stage_upload,
    wait_final,
)

CSV = GOOD_CSV.replace(b";", b",")


def reconcile(cluster: Cluster, database: Path, **env: str) -> dict[str, list[str]]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("MINI_")}
    done = subprocess.run(
        [sys.executable, "-m", "processor", "reconcile"],
        cwd=ROOT,
        env={
            **base,
            **cluster.storage_env(),
            "MINI_DATABASE_URL": f"sqlite:///{database}",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, list[str]] = json.loads(done.stdout)
    return report


def backdate(catalog: Catalog, dataset_id: str, **values: Any) -> None:
    with catalog.engine.begin() as conn:
        conn.execute(update(DatasetRow).where(DatasetRow.id == dataset_id).values(**values))


def test_a_lost_launch_is_requeued_and_then_processed(
    cluster: Cluster, start_api: StartApi, tmp_path: Path
) -> None:
    """The API stored the file and died before its catalog row: the reconciler records it."""
    data_dir = tmp_path / "api"
    server = start_api(data_dir)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    lost, _ = stage_upload(cluster, CSV, uploaded_at=an_hour_ago)
    # Still uploading as far as anyone knows: left alone.
    fresh, _ = stage_upload(cluster, CSV)
    report = reconcile(cluster, data_dir / "catalog.sqlite3")
    assert lost in report["requeued"]
    assert fresh not in report["requeued"]
    catalog = catalog_at(data_dir)
    assert catalog.get(fresh) is None
    with httpx.Client(base_url=server.url, timeout=30) as api:
        status = wait_final(api, lost)
        rows = api.get(f"/datasets/{lost}").json()["rows"]
    assert status["status"] == "ready"
    assert status["filename"] == f"{lost[:6]}.csv"
    assert [r["name"] for r in rows] == ["alpha", "beta", "gamma"]
    # Idempotent: nothing more to do the second time.
    again = reconcile(cluster, data_dir / "catalog.sqlite3")
    assert lost not in again["requeued"]


def test_stuck_processing_is_recorded_or_requeued(cluster: Cluster, tmp_path: Path) -> None:
    database = tmp_path / "catalog.sqlite3"
    catalog = SqlCatalog.from_url(f"sqlite:///{database}")
    catalog.create_schema()
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    store = cluster.store()
    finished, manifest = stage_upload(cluster, CSV)
    record(catalog, finished, manifest)
    catalog.mark_processing(finished)
    backdate(catalog, finished, started_at=long_ago)
    result = {"status": "ready", "rows_in": 3, "rows_out": 3, "rows_rejected": 0}
    store.put_bytes(
        cluster.processed_bucket, keys.result_key(finished), json.dumps(result).encode()
    )
    vanished, manifest = stage_upload(cluster, CSV)
    record(catalog, vanished, manifest)
    catalog.mark_processing(vanished)
    backdate(catalog, vanished, started_at=long_ago)
    recent, manifest = stage_upload(cluster, CSV)
    record(catalog, recent, manifest)
    catalog.mark_processing(recent)

    report = reconcile(cluster, database)
    assert report["recorded"] == [finished]
    assert vanished in report["requeued"]
    assert recent not in report["requeued"] + report["recorded"]
    assert catalog.get(finished).status.value == "ready"  # type: ignore[union-attr]
    assert catalog.get(finished).rows_out == 3  # type: ignore[union-attr]
    assert catalog.get(vanished).status.value == "queued"  # type: ignore[union-attr]
    assert catalog.get(recent).status.value == "processing"  # type: ignore[union-attr]


def test_retention_is_off_by_default_and_deletes_old_datasets_when_set(
    cluster: Cluster, tmp_path: Path
) -> None:
    database = tmp_path / "catalog.sqlite3"
    catalog = SqlCatalog.from_url(f"sqlite:///{database}")
    catalog.create_schema()
    store = cluster.store()
    old, manifest = stage_upload(cluster, CSV)
    record(catalog, old, manifest)
    catalog.mark_failed(old, "whatever")
    backdate(catalog, old, created_at=datetime.now(UTC) - timedelta(days=3))
    store.put_bytes(cluster.processed_bucket, keys.logs_key(old), b"old lines\n")
    young, manifest = stage_upload(cluster, CSV)
    record(catalog, young, manifest)
    catalog.mark_failed(young, "whatever")
    three_days_ago = datetime.now(UTC) - timedelta(days=3)
    recorded, _ = stage_upload(cluster, CSV, uploaded_at=three_days_ago)

    report = reconcile(cluster, database)
    assert report["expired"] == []
    assert catalog.get(old) is not None
    assert store.exists(cluster.raw_bucket, keys.raw_key(old))
    # Off by default: an old uncatalogued upload is recorded, not deleted.
    assert recorded in report["requeued"]

    orphan, _ = stage_upload(cluster, CSV, uploaded_at=three_days_ago)
    report = reconcile(cluster, database, MINI_RETENTION_DAYS="2")
    assert sorted(report["expired"]) == sorted([old, orphan])
    assert catalog.get(old) is None and catalog.get(orphan) is None
    for gone in (old, orphan):
        for bucket in (cluster.raw_bucket, cluster.processed_bucket):
            assert list(store.list(bucket, keys.raw_prefix(gone))) == []
    # Young, or not final: kept.
    for kept in (young, recorded):
        assert catalog.get(kept) is not None
        assert store.exists(cluster.raw_bucket, keys.raw_key(kept))
