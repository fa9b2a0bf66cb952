"""Runs each dataset as a local `python -m processor run` subprocess."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from core.catalog import Catalog, Status
from core.logs import log_context
from core.outputs import EXIT_BAD_INPUT, EXIT_OK, apply_result, read_result
from core.settings import Settings, to_env
from core.storage import ObjectStore, StorageError

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
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        # The processor only writes its manifest; _settle records it after saving the
        # logs, so a final dataset always has them (as with the Kubernetes runner).
        self._env = {**os.environ, **to_env(settings), "MINI_PROCESSOR__UPDATE_CATALOG": "false"}
        self.log_dir = settings.data_dir.resolve() / "logs"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self._pool = ThreadPoolExecutor(
            max_workers=self._settings.runner.max_parallel, thread_name_prefix="mini-runner"
        )
        # A previous API process died with work in flight: run it again.
        # Processor outputs use fixed keys and the manifest is written last,
        # so a second run is safe.
        for dataset in self._catalog.with_status([Status.processing]):
            self._catalog.requeue(dataset.id)
        for dataset in self._catalog.with_status([Status.queued]):
            self.submit(dataset.id)

    def submit(self, dataset_id: str) -> None:
        if self._pool is None:
            raise RuntimeError("runner not started")
        with self._lock:
            if dataset_id in self._inflight:
                return
            self._inflight.add(dataset_id)
        self._pool.submit(self._run, dataset_id)

    def stop(self) -> None:
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
        dataset = self._catalog.get(dataset_id)
        if dataset is None or dataset.is_final or not self._catalog.mark_processing(dataset_id):
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
            proc = subprocess.Popen(cmd, env=self._env, stdout=log_file, stderr=subprocess.STDOUT)
            with self._lock:
                self._procs[dataset_id] = proc
            code = proc.wait()
        if code < 0 and self._pool is None:
            # We terminated it while shutting down; the next start resumes it.
            return None
        # Beside the outputs, where GET /datasets/{id}/logs reads them for either runner.
        save_log_file(self._store, self._settings.storage.processed_bucket, dataset_id, log_path)
        self._settle(dataset_id, code, log_path)
        return dataset.name

    def _settle(self, dataset_id: str, code: int, log_path: Path) -> None:
        dataset = self._catalog.get(dataset_id)
        if dataset is None or dataset.is_final:
            return
        try:
            result = read_result(self._store, self._settings.storage.processed_bucket, dataset_id)
        except StorageError:
            result = None
        if result is not None and code in (EXIT_OK, EXIT_BAD_INPUT):
            apply_result(self._catalog, dataset_id, result)
            return
        tail = _tail(log_path, 1)
        reason = f"processor exited with code {code}"
        self._catalog.mark_failed(dataset_id, f"{reason}: {tail}" if tail else reason)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text("utf-8", "replace")
    except OSError:
        return ""
    kept = deque((line for line in text.splitlines() if line.strip()), maxlen=lines)
    return "\n".join(kept)
