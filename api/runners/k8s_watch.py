"""Follows the processor Jobs: list, then watch from the list's resourceVersion.

A watch can expire (410 Gone) or silently miss nothing but still end; either way
the next step is a fresh list, which also hands every Job to `on_list` so the
runner can reconcile the catalog against what really exists. A list also happens
every `poll_seconds`, the safety net behind the event stream.

Lists come in pages of LIST_PAGE Jobs, parsed as plain JSON: Jobs stay listed until
their TTL (an hour by default, thousands at a steady upload rate), and `skip` lets the
runner pass over the ones it has already recorded without building a model object
for each (a third of a millisecond apiece) on every list.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from kubernetes.client import BatchV1Api, V1Job
from kubernetes.client.exceptions import ApiException

log = logging.getLogger(__name__)

HTTP_GONE = 410
# After an unexpected error, wait this long (doubling up to the poll interval).
FIRST_BACKOFF_SECONDS = 0.5
# Client-side read timeout on top of the server's watch timeout.
READ_SLACK_SECONDS = 15
# Bounds the memory of one list response; pages share one consistent snapshot.
LIST_PAGE = 500

JobHandler = Callable[[str, V1Job], None]
ListHandler = Callable[[list[V1Job]], None]
# Given a listed Job as JSON: True when the runner has nothing left to do with it.
SkipFilter = Callable[[dict[str, Any]], bool]


def _lines(resp: Any) -> Iterator[bytes]:
    """Newline-delimited JSON events from a streamed HTTP response."""
    pending = b""
    for chunk in resp.stream(64 * 1024, decode_content=True):
        pending += chunk
        *complete, pending = pending.split(b"\n")
        yield from (line for line in complete if line.strip())
    if pending.strip():
        yield pending


class JobWatcher:
    """One background thread; `on_job(event_type, job)` for every change it sees."""

    def __init__(
        self,
        batch: BatchV1Api,
        namespace: str,
        label_selector: str,
        *,
        on_job: JobHandler,
        on_list: ListHandler,
        poll_seconds: float,
        resource_version: str | None = None,
        skip: SkipFilter | None = None,
        page_size: int = LIST_PAGE,
    ) -> None:
        self._batch = batch
        self._namespace = namespace
        self._selector = label_selector
        self._on_job = on_job
        self._on_list = on_list
        self._poll = poll_seconds
        self._start_rv = resource_version
        self._skip = skip
        self._page_size = page_size
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._resp: Any = None
        self._lock = threading.Lock()
        # Counters, for logs and tests.
        self.lists = 0
        self.expired = 0
        self.events = 0
        self.errors = 0
        self.resource_version: str | None = resource_version

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="mini-job-watcher", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        with self._lock:
            resp = self._resp
        if resp is not None:
            # Unblocks the read the watch thread is waiting in.
            try:
                resp.shutdown()
            except Exception:
                resp.close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        rv = self._start_rv
        next_list = time.monotonic() + self._poll
        backoff = FIRST_BACKOFF_SECONDS
        while not self._stop.is_set():
            try:
                if rv is None or time.monotonic() >= next_list:
                    rv = self._list()
                    next_list = time.monotonic() + self._poll
                rv = self._watch(rv, max(1.0, next_list - time.monotonic()))
                backoff = FIRST_BACKOFF_SECONDS
            except ApiException as exc:
                if exc.status == HTTP_GONE:
                    # Our resourceVersion fell out of the server's history: start over.
                    self.expired += 1
                    log.info("job watch expired (410 Gone); listing again")
                    rv = None
                    continue
                self._failed(exc, backoff)
                rv, backoff = None, min(backoff * 2, self._poll)
            except Exception as exc:
                if self._stop.is_set():
                    break
                self._failed(exc, backoff)
                rv, backoff = None, min(backoff * 2, self._poll)

    def _failed(self, exc: Exception, backoff: float) -> None:
        self.errors += 1
        log.warning("job watch failed (%s); listing again in %.1fs", exc, backoff)
        self._stop.wait(backoff)

    def _list(self) -> str:
        jobs: list[V1Job] = []
        rv: str | None = None
        token: str | None = None
        while True:
            page = self._page(token)
            meta = page.get("metadata") or {}
            rv = meta.get("resourceVersion") or rv
            for raw in page.get("items") or []:
                if self._skip is not None and self._skip(raw):
                    continue
                job = V1Job.from_dict(raw)
                if job is not None:
                    jobs.append(job)
            token = meta.get("continue")
            if not token:
                break
        self.lists += 1
        if not rv:
            raise RuntimeError("job list carried no resourceVersion")
        self.resource_version = rv
        try:
            self._on_list(jobs)
        except Exception:
            log.exception("reconciling after a job list failed")
        return rv

    def _page(self, token: str | None) -> dict[str, Any]:
        resp: Any = self._batch.list_namespaced_job(
            self._namespace,
            label_selector=self._selector,
            limit=self._page_size,
            _continue=token,
            _preload_content=False,
            _request_timeout=READ_SLACK_SECONDS * 4,
        )
        try:
            page: dict[str, Any] = json.loads(resp.data)
        finally:
            resp.release_conn()
        return page

    def _watch(self, rv: str, seconds: float) -> str:
        timeout = max(1, math.ceil(seconds))
        resp: Any = self._batch.list_namespaced_job(
            self._namespace,
            label_selector=self._selector,
            watch=True,
            allow_watch_bookmarks=True,
            resource_version=rv,
            timeout_seconds=timeout,
            _preload_content=False,
            _request_timeout=timeout + READ_SLACK_SECONDS,
        )
        with self._lock:
            self._resp = resp
        try:
            for line in _lines(resp):
                if self._stop.is_set():
                    break
                rv = self._event(json.loads(line), rv)
        finally:
            with self._lock:
                self._resp = None
            resp.release_conn()
        return rv

    def _event(self, event: dict[str, Any], rv: str) -> str:
        kind = event.get("type")
        raw = event.get("object") or {}
        if kind == "ERROR":
            code = int(raw.get("code") or 0)
            raise ApiException(status=code, reason=f"{raw.get('reason')}: {raw.get('message')}")
        new_rv = str((raw.get("metadata") or {}).get("resourceVersion") or rv)
        self.resource_version = new_rv
        if kind == "BOOKMARK":
            return new_rv
        job = V1Job.from_dict(raw)
        if job is None or kind is None:
            return new_rv
        self.events += 1
        try:
            self._on_job(str(kind), job)
        except Exception:
            # The next list hands the Job over again.
            log.exception("handling a %s job event failed", kind)
        return new_rv
