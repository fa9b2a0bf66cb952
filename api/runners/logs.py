"""The last lines of a processor run, kept in the processed bucket beside its outputs.

Both runners save them once a run is over, so `GET /datasets/{id}/logs` reads one
place whichever runner ran it, and the lines outlive Kubernetes pods.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Iterable
from pathlib import Path

from core import keys
from core.storage import ObjectStore, StorageError

log = logging.getLogger(__name__)

LOG_LINES = 200


def tail(lines: Iterable[str], count: int = LOG_LINES) -> list[str]:
    return list(deque(lines, maxlen=count))


def last_line(lines: Iterable[str]) -> str | None:
    kept = tail((line for line in lines if line.strip()), 1)
    return kept[0].strip() if kept else None


def save_logs(store: ObjectStore, bucket: str, dataset_id: str, lines: Iterable[str]) -> None:
    text = "".join(f"{line}\n" for line in tail(lines))
    store.put_bytes(bucket, keys.logs_key(dataset_id), text.encode("utf-8"))


def save_log_file(store: ObjectStore, bucket: str, dataset_id: str, path: Path) -> None:
    """Best effort: a run's status matters more than its log lines."""
    try:
        with path.open(encoding="utf-8", errors="replace") as fh:
            save_logs(store, bucket, dataset_id, (line.rstrip("\n") for line in fh))
    except (OSError, StorageError) as exc:
        log.warning("could not save the logs of %s: %s", dataset_id, exc)


def load_logs(store: ObjectStore, bucket: str, dataset_id: str) -> str:
    """Raises ObjectNotFound until the runner saved them."""
    with store.open(bucket, keys.logs_key(dataset_id)) as fh:
        return fh.read().decode("utf-8", "replace")
