"""Prometheus metrics (`GET /metrics`), made by the composition root, never at import.

Counters and histograms are updated where things happen (the request middleware, the
upload use case, the result manifests the runners record, the Kubernetes runner's Job
launches). Gauges that are facts of the catalog (datasets by status, queue length) and
the caches' hit counts are read at scrape time by a collector.

Several workers: set ``PROMETHEUS_MULTIPROC_DIR`` to an empty directory shared by the
workers (wiped at each start); counters and histograms are then summed over every
worker from there. The catalog figures are the same from any worker; the cache figures
are those of the worker that answers the scrape.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from core.catalog import Catalog, Status

if TYPE_CHECKING:
    from .column_stats import StatsCache
    from .query.caches import QueryCaches
    from .versions import Resolver

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
LONG_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
SIZE_BUCKETS = tuple(float(1024**1 * 4**i) for i in range(12))  # 1 KiB .. 4 GiB


class Metrics:
    def __init__(self, runner: str) -> None:
        self.runner = runner
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "mini_http_requests",
            "HTTP requests by method, route template and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "mini_http_request_duration_seconds",
            "HTTP request latency by method and route template (until the last byte)",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.uploads = Counter(
            "mini_uploads", "Uploads by outcome (accepted, rejected)", ["outcome"], registry=r
        )
        self.upload_bytes = Counter(
            "mini_upload_bytes", "Bytes of accepted uploads stored in the raw bucket", registry=r
        )
        self.upload_size = Histogram(
            "mini_upload_size_bytes", "Size of accepted uploads", buckets=SIZE_BUCKETS, registry=r
        )
        self.upload_seconds = Histogram(
            "mini_upload_duration_seconds",
            "Time to receive and store an upload",
            buckets=LONG_BUCKETS,
            registry=r,
        )
        self.processed = Counter(
            "mini_processing_runs",
            "Processor runs recorded, by runner and outcome (ready, failed)",
            ["runner", "outcome"],
            registry=r,
        )
        self.processing_seconds = Histogram(
            "mini_processing_duration_seconds",
            "From the start of processing to the recorded result, by runner and outcome",
            ["runner", "outcome"],
            buckets=LONG_BUCKETS,
            registry=r,
        )
        self.rows = Counter(
            "mini_processor_rows",
            "Rows the processor read, kept and rejected (from the result manifests)",
            ["kind"],
            registry=r,
        )
        self.processor_bytes = Counter(
            "mini_processor_bytes",
            "CSV bytes read and Parquet bytes written by the processor",
            ["direction"],
            registry=r,
        )
        self.phase_seconds = Histogram(
            "mini_processor_phase_duration_seconds",
            "The processor's phases (detect, scan, dedupe_plan, write, total)",
            ["phase"],
            buckets=LONG_BUCKETS,
            registry=r,
        )
        self.job_launches = Counter(
            "mini_job_launches", "Kubernetes Jobs created for datasets", registry=r
        )
        self.job_retries = Counter(
            "mini_job_retries", "Failed pods a Job retried (the Job's status.failed)", registry=r
        )
        self.job_failures = Counter(
            "mini_job_failures",
            "Jobs that failed or could not be created, by reason",
            ["reason"],
            registry=r,
        )
        self._state: _StateCollector | None = None

    # -- requests ---------------------------------------------------------------
    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests.labels(method, route, str(status)).inc()
        self.latency.labels(method, route).observe(seconds)

    # -- uploads ----------------------------------------------------------------
    def observe_upload(self, size: int, seconds: float) -> None:
        self.uploads.labels("accepted").inc()
        self.upload_bytes.inc(size)
        self.upload_size.observe(size)
        self.upload_seconds.observe(seconds)

    def upload_rejected(self) -> None:
        self.uploads.labels("rejected").inc()

    # -- processing (the result manifests) ----------------------------------------
    def result_listener(self, catalog: Catalog) -> Callable[[str, dict[str, Any]], None]:
        def listen(dataset_id: str, result: dict[str, Any]) -> None:
            outcome = "ready" if result.get("status") == "ready" else "failed"
            self.processed.labels(self.runner, outcome).inc()
            dataset = catalog.get(dataset_id)
            if dataset and dataset.started_at and dataset.finished_at:
                seconds = (dataset.finished_at - dataset.started_at).total_seconds()
                self.processing_seconds.labels(self.runner, outcome).observe(max(seconds, 0.0))
            for kind in ("rows_in", "rows_out", "rows_rejected"):
                if isinstance(result.get(kind), int):
                    self.rows.labels(kind.removeprefix("rows_")).inc(result[kind])
            figures = result.get("metrics")
            if not isinstance(figures, dict):
                return
            for direction in ("in", "out"):
                value = figures.get(f"bytes_{direction}")
                if isinstance(value, int) and value >= 0:
                    self.processor_bytes.labels(direction).inc(value)
            for phase, seconds in (figures.get("durations_s") or {}).items():
                if isinstance(seconds, int | float) and seconds >= 0:
                    self.phase_seconds.labels(str(phase)).observe(float(seconds))

        return listen

    # -- Kubernetes Jobs ----------------------------------------------------------
    def job_launched(self) -> None:
        self.job_launches.inc()

    def job_failed(self, reason: str) -> None:
        self.job_failures.labels(reason).inc()

    def job_retried(self, pods_failed: int) -> None:
        if pods_failed > 0:
            self.job_retries.inc(pods_failed)

    # -- scrape -------------------------------------------------------------------
    def watch_state(
        self,
        catalog: Catalog,
        caches: dict[str, Any],
    ) -> None:
        """Datasets by status, queue length and cache hit counts, read at scrape time."""
        self._state = _StateCollector(catalog, caches)
        self.registry.register(self._state)

    def render(self) -> bytes:
        if os.environ.get(MULTIPROC_ENV):
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            if self._state is not None:
                registry.register(self._state)
            return generate_latest(registry)
        return generate_latest(self.registry)


def caches_of(query: QueryCaches, resolver: Resolver, stats: StatsCache) -> dict[str, Any]:
    """Every cache with `hits` and `misses`, by the name /metrics gives it."""
    return {
        "footers": query.footers,
        "row_groups": query.groups,
        "filter_counts": query.counts,
        "sort_orders": query.orders,
        "resolver": resolver,
        "column_stats": stats,
    }


class _StateCollector(Collector):
    def __init__(self, catalog: Catalog, caches: dict[str, Any]) -> None:
        self.catalog = catalog
        self.caches = caches

    def collect(self) -> Iterator[Metric]:
        by_status = GaugeMetricFamily(
            "mini_datasets", "Dataset versions in the catalog by status", labels=["status"]
        )
        queue = GaugeMetricFamily(
            "mini_queue_length", "Versions waiting for a processor run (queued)"
        )
        try:
            counts = self.catalog.status_counts()
        except Exception as exc:  # the catalog is down: /readyz says so; skip these
            log.warning("metrics: catalog unavailable: %s", exc)
            counts = None
        if counts is not None:
            for status, n in counts.items():
                by_status.add_metric([status.value], n)
            queue.add_metric([], counts[Status.queued])
            yield by_status
            yield queue
        hits = CounterMetricFamily(
            "mini_cache_hits", "Cache lookups answered from memory", labels=["cache"]
        )
        misses = CounterMetricFamily(
            "mini_cache_misses", "Cache lookups that had to compute or read", labels=["cache"]
        )
        for name, cache in self.caches.items():
            hits.add_metric([name], int(cache.hits))
            misses.add_metric([name], int(cache.misses))
        yield hits
        yield misses
