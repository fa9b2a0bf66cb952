"""The composition root: the one place that picks adapters from settings."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from core.catalog import Catalog, SqlCatalog
from core.outputs import add_result_listener
from core.settings import RunnerBackend, Settings
from core.storage import ObjectStore, StorageError, StorageUnavailable
from core.storage.arrow import ArrowStore, arrow_store
from core.storage.factory import ensure_buckets, make_store

from .column_stats import StatsCache
from .limits import UploadGate
from .metrics import Metrics, caches_of
from .query.caches import QueryCaches
from .runners.base import Runner
from .sql.engine import SqlEngine
from .versions import Resolver
from .webhooks.addresses import AddressPolicy
from .webhooks.deliverer import Deliverer

log = logging.getLogger(__name__)


@dataclass
class Container:
    settings: Settings
    store: ObjectStore
    catalog: Catalog
    runner: Runner
    metrics: Metrics
    resolver: Resolver
    stats_cache: StatsCache
    query_caches: QueryCaches
    upload_gate: UploadGate
    sql: SqlEngine
    webhooks: Deliverer
    buckets_ready: bool = False
    _unlisten: Callable[[], None] | None = field(default=None, repr=False)
    _unlisten_webhooks: Callable[[], None] | None = field(default=None, repr=False)

    def ensure_buckets(self) -> None:
        if not self.buckets_ready:
            ensure_buckets(self.store, self.settings)
            self.buckets_ready = True

    def start(self) -> None:
        # Result manifests the runners record feed /metrics (processor figures).
        self._unlisten = add_result_listener(self.metrics.result_listener(self.catalog))
        self.metrics.watch_state(
            self.catalog, caches_of(self.query_caches, self.resolver, self.stats_cache)
        )
        self.catalog.create_schema()
        try:
            self.ensure_buckets()
            self.sweep_incomplete()
        except StorageUnavailable as exc:
            # Start anyway: /readyz reports it, and uploads answer 503 until it is back.
            log.warning("object store unavailable at start: %s", exc)
        # Before the runner: a resumed version that finishes at once is told too.
        self._unlisten_webhooks = add_result_listener(self.webhooks.listener)
        self.webhooks.start()
        self.runner.start()

    def sweep_incomplete(self) -> None:
        """What a previous process left mid-write: its temp parts, stale multipart uploads."""
        storage = self.settings.storage
        age = timedelta(seconds=storage.incomplete_max_age_seconds)
        for bucket in (storage.raw_bucket, storage.processed_bucket):
            try:
                removed = self.store.sweep_incomplete(bucket, age)
            except StorageUnavailable:
                raise
            except StorageError as exc:
                log.warning("could not sweep incomplete writes in %s: %s", bucket, exc)
                continue
            if removed:
                log.info("removed %d incomplete write(s) left in %s", removed, bucket)

    def stop(self) -> None:
        self.runner.stop()
        if self._unlisten is not None:
            self._unlisten()
        if self._unlisten_webhooks is not None:
            self._unlisten_webhooks()
        self.webhooks.stop()
        self.webhooks.policy.close()
        self.resolver.forget()
        self.stats_cache.clear()
        self.query_caches.close()
        self.sql.close()
        self.catalog.close()


def build_container(settings: Settings) -> Container:
    store = make_store(settings)
    catalog = SqlCatalog.from_url(settings.resolved_database_url())
    runner: Runner
    metrics = Metrics(runner=settings.runner.backend.value)
    resolver = Resolver(catalog)
    if settings.runner.backend is RunnerBackend.local:
        from .runners.local import LocalRunner

        runner = LocalRunner(settings, catalog, store)
    else:
        from .runners.kubernetes import KubernetesRunner

        runner = KubernetesRunner(settings, catalog, store, metrics=metrics)
    return Container(
        settings=settings,
        store=store,
        catalog=catalog,
        runner=runner,
        metrics=metrics,
        resolver=resolver,
        stats_cache=StatsCache(),
        query_caches=QueryCaches(),
        upload_gate=UploadGate(settings.max_concurrent_uploads),
        sql=SqlEngine(settings, resolver, _lazy_arrow_store(settings)),
        webhooks=Deliverer(
            settings.webhooks,
            catalog,
            AddressPolicy(allow_private=settings.webhooks.allow_private),
        ),
    )


def _lazy_arrow_store(settings: Settings) -> Callable[[], ArrowStore]:
    """Made at the first query that needs it: most processes never run SQL."""
    made: list[ArrowStore] = []

    def get() -> ArrowStore:
        if not made:
            made.append(arrow_store(settings))
        return made[0]

    return get
