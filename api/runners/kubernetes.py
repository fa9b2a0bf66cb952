"""Runs each dataset as one Kubernetes Job, and follows the Jobs into the catalog.

* `submit` only queues: a launcher thread moves the dataset queued -> processing
  (a guarded transition) and creates the Job `mini-proc-<id>`. A second launch,
  from this replica or another, gets 409 AlreadyExists and adopts the Job only
  when its labels name the same dataset.
* The Job cannot reach the catalog (NetworkPolicy): it writes the result manifest
  and exits. A watcher sees the Job end, saves the last pod log lines, then
  records the manifest; all of this before `ttlSecondsAfterFinished` deletes it.
* Every list (at start, after 410 Gone, every `poll_seconds`) reconciles: finished
  Jobs are recorded, queued datasets launched, and datasets whose Job vanished
  are recorded from their manifest or launched again.
* `max_active_jobs` caps the datasets `processing` in the catalog (shared by every
  replica): beyond it a dataset stays `queued`, and each Job that ends launches
  the oldest waiting ones. Two replicas launching at the same instant can pass
  it by one each; the namespace's ResourceQuota is the hard limit.
* Jobs stay listed until their TTL, thousands at a steady upload rate: a Job whose
  dataset is known to be final is remembered (by uid) and passed over without a
  catalog read, in events and in every list; the waiting datasets are read only as
  many as there are free slots. The cost per file stays constant as the backlog and
  the finished Jobs grow (bench/bench_k8s_scale.py).
"""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from kubernetes import config
from kubernetes.client import ApiClient, BatchV1Api, Configuration, CoreV1Api, V1Job, V1Pod
from kubernetes.client.exceptions import ApiException

from core import keys
from core.catalog import Catalog, Dataset, Status, now
from core.logs import log_context
from core.outputs import apply_result, read_result
from core.settings import KubernetesSettings, Settings
from core.sniff import container_format
from core.storage import ObjectStore, StorageError

from ..metrics import Metrics
from ..options import PACKED_OPTION
from . import logs
from .k8s_job import (
    CONTAINER,
    SELECTOR,
    belongs_to,
    build_job,
    dataset_of,
    is_small,
    job_name,
)
from .k8s_status import (
    decide,
    exit_code,
    failed_attempts,
    last_exit_code,
    outcome,
    waiting_reason,
)
from .k8s_watch import JobWatcher

# Enough of an upload's start to tell gzip, zip and OLE2 (xls) by their magic bytes.
SNIFF_HEAD_BYTES = 16
# Queued datasets read beyond the free slots when large ones may have to wait.
LAUNCH_LOOKAHEAD = 100

log = logging.getLogger(__name__)

HTTP_CONFLICT = 409
HTTP_NOT_FOUND = 404
HTTP_TOO_MANY = 429
REQUEST_TIMEOUT = 30
# A processing dataset may briefly have no Job yet: its launch is in flight.
MIN_LAUNCH_GRACE_SECONDS = 10


def load_api_client(k: KubernetesSettings) -> ApiClient:
    """An explicit kubeconfig wins; otherwise in-cluster first, then the default kubeconfig."""
    # The config loaders carry no type hints.
    cfg = Configuration()
    if k.kubeconfig is not None:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=str(k.kubeconfig), client_configuration=cfg
        )
    else:
        try:
            config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
        except config.ConfigException:
            config.load_kube_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    return ApiClient(cfg)


def _api_message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "")
        return str(body.get("message") or exc.reason)
    except (ValueError, AttributeError):
        return str(exc.reason or exc)


def _created(pod: V1Pod) -> str:
    meta = pod.metadata
    stamp = meta.creation_timestamp if meta else None
    return f"{stamp.isoformat() if stamp else ''}/{meta.name if meta else ''}"


class KubernetesRunner:
    def __init__(
        self,
        settings: Settings,
        catalog: Catalog,
        store: ObjectStore,
        api_client: ApiClient | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self._metrics = metrics
        self._settings = settings
        self._k = settings.runner.kubernetes
        self._catalog = catalog
        self._store = store
        self._api_client = api_client
        self._owned_client: ApiClient | None = None
        self._bucket = settings.storage.processed_bucket
        self._raw_bucket = settings.storage.raw_bucket
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._lock = threading.Lock()
        self._pending: set[str] = set()
        self._settling: set[str] = set()
        # Uids of Jobs whose dataset is final: nothing left to do with them.
        self._settled: set[str] = set()
        self._listed: set[str] = set()
        self._launcher: threading.Thread | None = None
        self.watcher: JobWatcher | None = None
        self._grace = timedelta(seconds=max(MIN_LAUNCH_GRACE_SECONDS, 2 * self._k.poll_seconds))

    # -- the Runner port ------------------------------------------------------------

    def start(self) -> None:
        if self._api_client is None:
            self._api_client = self._owned_client = load_api_client(self._k)
        api = self._api_client
        self._batch = BatchV1Api(api)
        self._core = CoreV1Api(api)
        self._launcher = threading.Thread(
            target=self._launch_loop, name="mini-job-launcher", daemon=True
        )
        self._launcher.start()
        # The first list resumes everything: finished Jobs, queued datasets, lost launches.
        self.watcher = JobWatcher(
            self._batch,
            self._k.namespace,
            SELECTOR,
            on_job=self._on_job,
            on_list=self._reconcile,
            poll_seconds=self._k.poll_seconds,
            skip=self._skip_listed,
        )
        self.watcher.start()

    def submit(self, dataset_id: str) -> None:
        """Never blocks: called from request handlers."""
        with self._lock:
            if dataset_id in self._pending:
                return
            self._pending.add(dataset_id)
        self._queue.put(dataset_id)

    def stop(self) -> None:
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self._launcher is not None:
            self._queue.put(None)
            self._launcher.join(REQUEST_TIMEOUT)
            self._launcher = None
        if self._owned_client is not None:
            self._owned_client.close()  # type: ignore[no-untyped-call]
            self._owned_client = self._api_client = None

    # -- launching ------------------------------------------------------------------

    def _launch_loop(self) -> None:
        while (dataset_id := self._queue.get()) is not None:
            with self._lock:
                self._pending.discard(dataset_id)
            try:
                self._launch(dataset_id)
            except Exception:
                log.exception("launching %s failed; the next poll retries", dataset_id)

    def _launch(self, dataset_id: str) -> None:
        dataset = self._catalog.get(dataset_id)
        # Only queued work is launched: a processing dataset has (or is getting) a Job.
        if dataset is None or dataset.status is not Status.queued:
            return
        packed = self._packed(dataset)
        if not self._may_start(dataset, packed):
            # Stays queued: a Job that ends, or the next poll, launches it.
            return
        # The Job (named after the dataset) is the claim: any replica following it is
        # the same owner.
        owner = f"kubernetes:{self._k.namespace}/{job_name(dataset_id)}"
        if not self._catalog.mark_processing(dataset_id, owner=owner):
            return
        # mark_processing fixed the baseline in the options: the Job gets those.
        dataset = self._catalog.get(dataset_id) or dataset
        name = job_name(dataset_id)
        try:
            job = build_job(dataset, self._k, packed=packed)
            self._batch.create_namespaced_job(
                self._k.namespace, job, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            if self._metrics:
                self._metrics.job_failed(f"create_http_{exc.status or 0}")
            self._create_failed(dataset, exc)
            return
        except Exception as exc:
            log.warning("could not reach Kubernetes to create %s: %s", name, exc)
            if self._metrics:
                self._metrics.job_failed("create_unreachable")
            self._catalog.requeue(dataset_id)
            return
        with log_context(dataset.options.get("request_id"), dataset_id):
            log.info("created Job %s for dataset %s", name, dataset_id)
        if self._metrics:
            self._metrics.job_launched()

    def _packed(self, dataset: Dataset) -> bool:
        """Whether the upload is gzip, zip or a workbook: its Job's disk is sized for
        what it unpacks to. Recorded at upload; for a version uploaded before that was,
        one ranged read of its first bytes (unknown counts as not)."""
        recorded = dataset.options.get(PACKED_OPTION)
        if isinstance(recorded, bool):
            return recorded
        try:
            with self._store.open_seekable(self._raw_bucket, dataset.raw_key) as raw:
                head = raw.read(SNIFF_HEAD_BYTES)
        except (StorageError, OSError) as exc:
            log.warning("could not read the head of %s: %s", dataset.raw_key, exc)
            return False
        return container_format(head) is not None

    def _large(self, dataset: Dataset, packed: bool | None = None) -> bool:
        if packed is None:
            # Counting Jobs already running: only what the catalog recorded, no reads.
            packed = dataset.options.get(PACKED_OPTION) is True
        return not is_small(dataset.size_bytes, packed, self._k)

    def _room(self) -> tuple[int | None, int | None]:
        """Jobs that may start now under max_active_jobs, and of them for uploads that
        are not small under max_active_large_jobs; None where there is no cap."""
        cap, large_cap = self._k.max_active_jobs, self._k.max_active_large_jobs
        if not (cap or large_cap):
            return None, None
        running = self._catalog.with_status([Status.processing])
        free = max(0, cap - len(running)) if cap else None
        large = sum(1 for d in running if self._large(d)) if large_cap else 0
        return free, max(0, large_cap - large) if large_cap else None

    def _may_start(self, dataset: Dataset, packed: bool) -> bool:
        """Whether a Job for `dataset` fits the caps now."""
        free, large_free = self._room()
        if free == 0:
            return False
        return large_free is None or large_free > 0 or not self._large(dataset, packed)

    def _launch_waiting(self) -> None:
        """Submit the oldest queued datasets that fit the caps now (every queued one
        without caps: a launch that was lost, or a dataset the reconciler re-queued).
        Large uploads over their own cap stay queued without holding up the small ones
        behind them."""
        free, large_free = self._room()
        if free == 0:
            return
        # With a large cap, read a little past the free slots: the oldest may be large
        # ones that must wait.
        ahead = LAUNCH_LOOKAHEAD if large_free is not None else 0
        limit = None if free is None else free + ahead
        for dataset in self._catalog.with_status([Status.queued], limit=limit):
            if large_free is not None and self._large(dataset):
                if large_free == 0:
                    continue
                large_free -= 1
            self.submit(dataset.id)
            if free is not None:
                free -= 1
                if free == 0:
                    return

    def _create_failed(self, dataset: Dataset, exc: ApiException) -> None:
        name = job_name(dataset.id)
        if exc.status == HTTP_CONFLICT:
            self._adopt(dataset, name)
            return
        status = exc.status or 0
        if status == HTTP_TOO_MANY or status >= 500:
            log.warning("Kubernetes is busy creating %s (%s); retrying later", name, status)
            self._catalog.requeue(dataset.id)
            return
        self._catalog.mark_failed(
            dataset.id,
            f"Kubernetes refused the processing Job {name}: HTTP {status}: {_api_message(exc)}",
        )

    def _adopt(self, dataset: Dataset, name: str) -> None:
        try:
            existing = self._batch.read_namespaced_job(
                name, self._k.namespace, _request_timeout=REQUEST_TIMEOUT
            )
        except ApiException as exc:
            # Deleted in between (its TTL ran out): the next poll decides again.
            log.warning("Job %s exists but could not be read: %s", name, exc.status)
            self._catalog.requeue(dataset.id)
            return
        if belongs_to(existing, dataset.id):
            # Another replica, or an earlier launch of ours, got there first.
            log.info("Job %s already exists for dataset %s; following it", name, dataset.id)
            self._on_job("EXISTING", existing)
            return
        found = existing.metadata.labels if existing.metadata else None
        log.error("Job %s exists but is not dataset %s's (labels %s)", name, dataset.id, found)
        self._catalog.mark_failed(
            dataset.id,
            f"a Job named {name} already exists in namespace {self._k.namespace} but was not "
            f"created for this dataset (labels {found}); refusing to use it",
        )

    # -- following ------------------------------------------------------------------

    @contextmanager
    def _settle_once(self, dataset_id: str) -> Iterator[bool]:
        with self._lock:
            busy = dataset_id in self._settling
            self._settling.add(dataset_id)
        try:
            yield not busy
        finally:
            if not busy:
                with self._lock:
                    self._settling.discard(dataset_id)

    def _skip_listed(self, raw: dict[str, Any]) -> bool:
        uid = str((raw.get("metadata") or {}).get("uid") or "")
        with self._lock:
            self._listed.add(uid)
            return uid in self._settled

    def _settled_job(self, job: V1Job, event: str) -> bool:
        """Is this Job's dataset already known final? A deleted Job is forgotten."""
        uid = job.metadata.uid if job.metadata else None
        if not uid:
            return False
        with self._lock:
            if event == "DELETED":
                settled = uid in self._settled
                self._settled.discard(uid)
                return settled
            return uid in self._settled

    def _settle(self, job: V1Job) -> None:
        uid = job.metadata.uid if job.metadata else None
        if uid:
            with self._lock:
                self._settled.add(uid)

    def _on_job(self, event: str, job: V1Job) -> None:
        dataset_id = dataset_of(job)
        if dataset_id is None or self._settled_job(job, event):
            return
        ended = outcome(job)
        if ended is None:
            if event == "DELETED":
                self._deleted_unfinished(dataset_id)
            return
        with self._settle_once(dataset_id) as mine:
            if not mine:
                return
            dataset = self._catalog.get(dataset_id)
            if dataset is None or dataset.is_final:
                self._settle(job)
                return
            pods = self._pods(job)
            lines, last = self._pod_logs(pods)
            # Lines first: once the status is final, readers expect the logs to be there.
            logs.save_logs(self._store, self._bucket, dataset_id, lines)
            manifest = read_result(self._store, self._bucket, dataset_id)
            result = decide(
                job,
                ended,
                manifest,
                failed=failed_attempts(job, pods),
                code=last_exit_code(pods),
                last_line=last,
                waiting=waiting_reason(pods),
            )
            applied = apply_result(self._catalog, dataset_id, result)
            self._settle(job)
            if applied:
                log.info("dataset %s is %s (Job %s)", dataset_id, result["status"], ended.reason)
                if self._metrics:
                    failed = failed_attempts(job, pods)
                    ok = result["status"] == "ready"
                    self._metrics.job_retried(failed if ok else max(0, failed - 1))
                    if not ok:
                        self._metrics.job_failed(str(ended.reason or "failed"))
                if dataset.name is not None:
                    # Versions of a dataset start in order: the next one may start now.
                    for waiting in self._catalog.next_in_line(dataset.name)[:1]:
                        self.submit(waiting.id)
                if self._k.max_active_jobs:
                    self._launch_waiting()

    def _deleted_unfinished(self, dataset_id: str) -> None:
        dataset = self._catalog.get(dataset_id)
        if dataset is None or dataset.is_final:
            return
        manifest = read_result(self._store, self._bucket, dataset_id)
        if manifest is not None:
            apply_result(self._catalog, dataset_id, manifest)
            return
        self._catalog.mark_failed(
            dataset_id, f"the processing Job {job_name(dataset_id)} was deleted before it finished"
        )

    def _pods(self, job: V1Job) -> list[V1Pod]:
        uid = job.metadata.uid if job.metadata else None
        if not uid:
            return []
        try:
            listing = self._core.list_namespaced_pod(
                self._k.namespace,
                label_selector=f"batch.kubernetes.io/controller-uid={uid}",
                _request_timeout=REQUEST_TIMEOUT,
            )
        except ApiException as exc:
            log.warning("could not list the pods of Job %s: %s", uid, exc.status)
            return []
        return sorted(listing.items, key=_created)

    def _pod_logs(self, pods: list[V1Pod]) -> tuple[list[str], str | None]:
        """Each attempt's last lines under a header; and the newest meaningful line."""
        if not pods:
            return ["(no pods left: their logs were gone before they could be saved)"], None
        lines: list[str] = []
        last: str | None = None
        for attempt, pod in enumerate(pods, 1):
            name = pod.metadata.name if pod.metadata and pod.metadata.name else "?"
            code = exit_code(pod)
            ended = f", exit code {code}" if code is not None else ""
            lines.append(f"--- pod {name} (attempt {attempt}{ended}) ---")
            try:
                text = self._core.read_namespaced_pod_log(
                    name,
                    self._k.namespace,
                    container=CONTAINER,
                    tail_lines=logs.LOG_LINES,
                    _request_timeout=REQUEST_TIMEOUT,
                )
            except ApiException as exc:
                lines.append(f"(log unavailable: HTTP {exc.status}: {_api_message(exc)})")
                continue
            except Exception as exc:
                lines.append(f"(log unavailable: {exc})")
                continue
            pod_lines = str(text or "").splitlines()
            lines.extend(pod_lines)
            last = logs.last_line(pod_lines) or last
        return lines, last

    # -- reconciling ----------------------------------------------------------------

    def _reconcile(self, jobs: list[V1Job]) -> None:
        with self._lock:
            # Only Jobs that still exist stay remembered.
            self._settled &= self._listed
            self._listed = set()
        with_job: set[str] = set()
        for job in jobs:
            dataset_id = dataset_of(job)
            if dataset_id is not None:
                with_job.add(dataset_id)
                self._on_job("LISTED", job)
        self._launch_waiting()
        cutoff = now() - self._grace
        for dataset in self._catalog.with_status([Status.processing]):
            if dataset.id in with_job:
                continue
            if dataset.started_at is not None and dataset.started_at > cutoff:
                continue
            self._lost(dataset)

    def _lost(self, dataset: Dataset) -> None:
        """Processing, but no Job: it finished and was deleted unseen, or never started."""
        manifest = read_result(self._store, self._bucket, dataset.id)
        if manifest is not None:
            if not self._store.exists(self._bucket, keys.logs_key(dataset.id)):
                note = "(the Job was deleted before its logs could be saved)"
                logs.save_logs(self._store, self._bucket, dataset.id, [note])
            apply_result(self._catalog, dataset.id, manifest)
            log.info("dataset %s recorded from its manifest; its Job is gone", dataset.id)
            return
        if self._catalog.requeue(dataset.id):
            log.warning("dataset %s has no Job and no result; launching it again", dataset.id)
            self.submit(dataset.id)
