"""`python -m processor reconcile`: put uploads whose processing was lost back in the queue.

Runs as a CronJob beside the API, with catalog and object-storage access only (no
Kubernetes rights): it repairs the catalog and the API's runner launches whatever
is queued. Every step is idempotent, so two runs at once do no harm.

* An upload whose `upload.json` sidecar exists but whose dataset is missing from
  the catalog (the API died between storing the file and recording it) is
  recorded again, queued.
* A dataset stuck in `processing` for longer than any Job may run gets its result
  manifest applied when there is one, else goes back to `queued`.
* With `MINI_RETENTION_DAYS`, final datasets older than that, and uncatalogued
  uploads older than that, are deleted: objects first, then the catalog row.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from core import keys
from core.catalog import Catalog, CatalogUnavailable, Dataset, SqlCatalog, Status, now
from core.manifest import ManifestError, read_manifest
from core.outputs import apply_result, read_result
from core.settings import Settings
from core.storage import ObjectNotFound, ObjectStore, StorageError, StorageUnavailable
from core.storage.factory import make_store

log = logging.getLogger(__name__)

# An upload writes its objects before its catalog row: younger sidecars may be mid-upload.
DEFAULT_GRACE_SECONDS = 600
# Beyond a Job's activeDeadlineSeconds, the time its pods may wait to be scheduled.
STALE_MARGIN_SECONDS = 600
UPLOAD_SUFFIX = "/upload.json"


@dataclass
class ReconcileReport:
    requeued: list[str] = field(default_factory=list)
    recorded: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    # Incomplete multipart uploads (S3) or temp parts (local) removed, per bucket.
    swept: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _uploaded_ids(store: ObjectStore, bucket: str) -> list[str]:
    ids = []
    for key in store.list(bucket):
        if key.endswith(UPLOAD_SUFFIX):
            dataset_id = key.removesuffix(UPLOAD_SUFFIX)
            if keys.is_dataset_id(dataset_id):
                ids.append(dataset_id)
    return ids


def _delete_objects(store: ObjectStore, settings: Settings, dataset_id: str) -> None:
    for bucket, prefix in (
        (settings.storage.raw_bucket, keys.raw_prefix(dataset_id)),
        (settings.storage.processed_bucket, keys.processed_prefix(dataset_id)),
    ):
        for key in list(store.list(bucket, prefix)):
            store.delete(bucket, key)


class Reconciler:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: ObjectStore,
        *,
        grace_seconds: float = DEFAULT_GRACE_SECONDS,
        stale_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.catalog = catalog
        self.store = store
        self.grace = timedelta(seconds=grace_seconds)
        if stale_seconds is None:
            stale_seconds = (
                settings.runner.kubernetes.active_deadline_seconds + STALE_MARGIN_SECONDS
            )
        self.stale = timedelta(seconds=stale_seconds)
        days = settings.retention_days
        self.retention = timedelta(days=days) if days else None

    def run(self) -> ReconcileReport:
        report = ReconcileReport()
        at = now()
        raw_bucket = self.settings.storage.raw_bucket
        for dataset_id in _uploaded_ids(self.store, raw_bucket):
            try:
                self._upload(dataset_id, at, report)
            except StorageError as exc:
                log.warning("reconcile %s: %s", dataset_id, exc)
                report.errors.append(f"{dataset_id}: {exc}")
        age = timedelta(seconds=self.settings.storage.incomplete_max_age_seconds)
        for bucket in (raw_bucket, self.settings.storage.processed_bucket):
            try:
                report.swept[bucket] = self.store.sweep_incomplete(bucket, age)
            except StorageError as exc:
                report.errors.append(f"sweeping incomplete writes in {bucket}: {exc}")
        if self.retention is not None:
            for dataset in self.catalog.with_status([Status.ready, Status.failed]):
                if dataset.created_at < at - self.retention:
                    self._expire(dataset.id, report)
        return report

    def _upload(self, dataset_id: str, at: datetime, report: ReconcileReport) -> None:
        dataset = self.catalog.get(dataset_id)
        if dataset is None:
            self._uncatalogued(dataset_id, at, report)
        elif dataset.status is Status.processing:
            self._processing(dataset, at, report)
        elif dataset.status is Status.queued:
            report.waiting.append(dataset_id)

    def _uncatalogued(self, dataset_id: str, at: datetime, report: ReconcileReport) -> None:
        raw_bucket = self.settings.storage.raw_bucket
        try:
            upload = read_manifest(self.store, raw_bucket, dataset_id)
        except (ObjectNotFound, ManifestError) as exc:
            report.errors.append(f"{dataset_id}: unreadable upload.json: {exc}")
            return
        uploaded_at = upload.uploaded_at
        if self.retention is not None and uploaded_at < at - self.retention:
            self._expire(dataset_id, report)
            return
        if uploaded_at > at - self.grace:
            return
        raw_key = keys.raw_key(dataset_id)
        if not self.store.exists(raw_bucket, raw_key):
            report.errors.append(f"{dataset_id}: upload.json without {raw_key}")
            return
        self.catalog.add(
            dataset_id=dataset_id,
            filename=upload.filename,
            raw_key=raw_key,
            sha256=upload.sha256,
            size_bytes=upload.size_bytes,
            options=upload.options,
            name=upload.name,
            policy=upload.on_schema_change,
        )
        report.requeued.append(dataset_id)

    def _processing(self, dataset: Dataset, at: datetime, report: ReconcileReport) -> None:
        since = dataset.started_at or dataset.created_at
        if since > at - self.stale:
            return
        result = read_result(self.store, self.settings.storage.processed_bucket, dataset.id)
        if result is not None:
            if apply_result(self.catalog, dataset.id, result):
                report.recorded.append(dataset.id)
        elif self.catalog.requeue(dataset.id):
            report.requeued.append(dataset.id)

    def _expire(self, dataset_id: str, report: ReconcileReport) -> None:
        _delete_objects(self.store, self.settings, dataset_id)
        self.catalog.delete(dataset_id)
        report.expired.append(dataset_id)


def reconcile_main(settings: Settings, *, grace_seconds: float, stale_seconds: float | None) -> int:
    catalog = SqlCatalog.from_url(settings.resolved_database_url())
    store = make_store(settings)
    try:
        report = Reconciler(
            settings, catalog, store, grace_seconds=grace_seconds, stale_seconds=stale_seconds
        ).run()
    except (StorageUnavailable, CatalogUnavailable) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        catalog.close()
    print(json.dumps(report.as_dict()))
    # Per-upload problems recur on every run: reported, but not a failed CronJob.
    for error in report.errors:
        print(f"warning: {error}", file=sys.stderr)
    return 0
