"""Runs each dataset as a local `python -m processor run` subprocess."""

from __future__ import annotations

import ctypes
import functools
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

from core.catalog import CLAIM_STALE_SECONDS, Catalog, Status
from core.logs import log_context
from core.outputs import EXIT_BAD_INPUT, EXIT_OK, apply_result, read_result
from core.settings import Settings, processor_env
from core.storage import ObjectStore, StorageError

from .forkserver import ForkedChild, ForkServer
from .logs import save_log_file

log = logging.getLogger(__name__)
STDERR_TAIL_LINES = 200


class LocalRunner:
    def __init__(self, settings: Settings, catalog: Catalog, store: ObjectStore) -> None:
        self._settings = settings
        self._catalog = catalog
        self._store = store
        self._pool: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._inflight: set[str] = set()
        self._procs: dict[str, subprocess.Popen[bytes] | ForkedChild] = {}
        # The processor only writes its manifest; _settle records it after saving the
        # logs, so a final dataset always has them (as with the Kubernetes runner).
        self._env = {
            **processor_env(settings, os.environ),
            "MINI_PROCESSOR__UPDATE_CATALOG": "false",
        }
        self.log_dir = settings.data_dir.resolve() / "logs"
        # Claims in the catalog name this runner; its heartbeat keeps them fresh.
        self.owner = f"local:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._stopping = threading.Event()
        self._beat: threading.Thread | None = None
        # Forks each run from a warm processor; runs fall back to a subprocess without it.
        self._forks: ForkServer | None = None

    def start(self) -> None:
        self._stopping.clear()
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if self._settings.runner.fork_server and sys.platform.startswith("linux"):
            self._forks = ForkServer(self._env, functools.partial(die_with_parent, os.getpid()))
            self._forks.start()
        self._pool = ThreadPoolExecutor(
            max_workers=self._settings.runner.max_parallel, thread_name_prefix="mini-runner"
        )
        # A previous API process died with work in flight: run it again, unless its
        # runner is still alive (another API on the same data). Processor outputs use
        # fixed keys and the manifest is written last, so a second run is safe.
        for dataset in self._catalog.with_status([Status.processing]):
            if orphaned(dataset.claimed_by, dataset.heartbeat_at):
                self._catalog.requeue(dataset.id, owner=dataset.claimed_by)
        for dataset in self._catalog.with_status([Status.queued]):
            self.submit(dataset.id)
        self._beat = threading.Thread(target=self._heartbeat, name="mini-heartbeat", daemon=True)
        self._beat.start()

    def _heartbeat(self) -> None:
        """Keep this runner's claims fresh, and take over those of runners that died."""
        while not self._stopping.wait(HEARTBEAT_SECONDS):
            try:
                with self._lock:
                    mine = list(self._procs)
                self._catalog.heartbeat(mine, self.owner)
                for dataset in self._catalog.with_status([Status.processing]):
                    owner = dataset.claimed_by
                    if owner == self.owner or (owner and not owner.startswith("local:")):
                        continue  # ours, or followed by another runner kind (a Job)
                    if not orphaned(dataset.claimed_by, dataset.heartbeat_at):
                        continue
                    if self._catalog.requeue(dataset.id, owner=dataset.claimed_by):
                        log.warning("taking over %s from %s", dataset.id, dataset.claimed_by)
                        self.submit(dataset.id)
            except Exception:
                log.exception("heartbeat failed; trying again")

    def submit(self, dataset_id: str) -> None:
        if self._pool is None:
            raise RuntimeError("runner not started")
        with self._lock:
            if dataset_id in self._inflight:
                return
            self._inflight.add(dataset_id)
        self._pool.submit(self._run, dataset_id)

    def stop(self) -> None:
        self._stopping.set()
        if self._pool is None:
            return
        self._pool.shutdown(wait=False, cancel_futures=True)
        with self._lock:
            procs = list(self._procs.values())
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        if self._forks is not None:
            self._forks.stop()
        self._pool = None

    def log_path(self, dataset_id: str) -> Path:
        return self.log_dir / f"{dataset_id}.log"

    def _run(self, dataset_id: str) -> None:
        name: str | None = None
        try:
            name = self._run_once(dataset_id)
        except Exception:
            log.exception("runner failed for %s", dataset_id)
            self._catalog.mark_failed(dataset_id, "internal error while running the processor")
        finally:
            with self._lock:
                self._inflight.discard(dataset_id)
                self._procs.pop(dataset_id, None)
        if name is not None and self._pool is not None:
            # Versions of a dataset start in order: the next one may start now.
            for waiting in self._catalog.next_in_line(name)[:1]:
                self.submit(waiting.id)

    def _run_once(self, dataset_id: str) -> str | None:
        """Run one dataset; the dataset's name once its run is over (None: not run)."""
        # False for a dataset that is gone or final: no read before it (a burst of tiny
        # files pays for every catalog round trip in the API's one process).
        if not self._catalog.mark_processing(dataset_id, owner=self.owner):
            return None
        # mark_processing fixed the baseline in the options: the processor gets those.
        dataset = self._catalog.get(dataset_id)
        if dataset is None:
            return None
        cmd = [sys.executable, "-m", "processor", "run", "--dataset-id", dataset_id]
        if dataset.options:
            cmd += ["--options", json.dumps(dataset.options)]
        # The upload's request id: on this line, and on the processor's (via --options).
        with log_context(dataset.options.get("request_id"), dataset_id):
            log.info("starting the processor for dataset %s", dataset_id)
        log_path = self.log_path(dataset_id)
        with log_path.open("wb") as log_file:
            code = self._forked(dataset_id, cmd, log_file.fileno())
            if code is None:
                if self._pool is None or self._stopping.is_set():
                    return None  # stopping: the next start resumes it
                # No fork server, or it died with the run: the same run, started anew.
                log_file.seek(0)
                log_file.truncate()
                proc = subprocess.Popen(
                    cmd,
                    env=self._env,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    preexec_fn=functools.partial(die_with_parent, os.getpid()),
                )
                with self._lock:
                    self._procs[dataset_id] = proc
                code = proc.wait()
        if code < 0 and (self._pool is None or self._stopping.is_set()):
            # We terminated it while shutting down; the next start resumes it.
            return None
        # Beside the outputs, where GET /datasets/{id}/logs reads them for either runner.
        save_log_file(self._store, self._settings.storage.processed_bucket, dataset_id, log_path)
        self._settle(dataset_id, code, log_path)
        return dataset.name

    def _forked(self, dataset_id: str, cmd: list[str], log_fd: int) -> int | None:
        """Exit code of the run in a child of the fork server; None if it could not
        run there or the server died during the run."""
        if self._forks is None:
            return None

        def started(child: ForkedChild) -> None:
            with self._lock:
                self._procs[dataset_id] = child

        # cmd is `python -m processor ARGS`: the server runs ARGS.
        return self._forks.run(cmd[3:], log_fd, started)

    def _settle(self, dataset_id: str, code: int, log_path: Path) -> None:
        # apply_result records nothing for a dataset that is gone or already final
        # (mark_ready and mark_failed only move queued or processing rows).
        try:
            result = read_result(self._store, self._settings.storage.processed_bucket, dataset_id)
        except StorageError:
            result = None
        if result is not None and code in (EXIT_OK, EXIT_BAD_INPUT):
            apply_result(self._catalog, dataset_id, result)
            return
        tail = _tail(log_path, 1)
        reason = f"processor exited with code {code}"
        # Through apply_result like any result, so /metrics counts the crash too.
        failed = {"status": "failed", "error": f"{reason}: {tail}" if tail else reason}
        apply_result(self._catalog, dataset_id, failed)


_PR_SET_PDEATHSIG = 1
# How often a runner renews its claims; a claim silent for CLAIM_STALE_SECONDS is an
# orphan (core/catalog/sql.py).
HEARTBEAT_SECONDS = 5.0


def orphaned(owner: str | None, heartbeat_at: datetime | None) -> bool:
    """Whether a processing claim's runner is gone: a local runner of this host whose
    process is dead (known at once), or any owner whose heartbeat went stale."""
    if owner is None:
        # Claimed before claims existed (no heartbeat), or by a caller that names no
        # owner: its heartbeat alone decides.
        owner = ""
    kind, _, rest = owner.partition(":")
    host, _, rest = rest.partition(":")
    pid = rest.partition(":")[0]
    if kind == "local" and host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass
    if heartbeat_at is None:
        return True
    return heartbeat_at < datetime.now(UTC) - timedelta(seconds=CLAIM_STALE_SECONDS)


def die_with_parent(parent: int) -> None:
    """In the child, before exec: SIGKILL when the thread that started it dies.

    An API killed with SIGKILL cannot stop its processors; without this they would run
    on unowned while the restarted API runs the same datasets again. The starting
    thread waits for the child, so it outlives it in every other case. Linux only;
    elsewhere a no-op (the restart still re-queues the work; runs are idempotent).
    """
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:
        os._exit(1)  # the API died between fork and prctl


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    kept = deque((line for line in text.splitlines() if line.strip()), maxlen=lines)
    return "\n".join(kept)
