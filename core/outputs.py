"""Publishing a processed dataset's files, manifest last, and reading the manifest back."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import keys
from .storage import ObjectNotFound, ObjectStore

if TYPE_CHECKING:
    # Only annotations: `python -m processor process` never loads the catalog's
    # SQLAlchemy and Alembic (a third of a second at every start).
    from .catalog import Catalog

# Processor exit codes; the Kubernetes Job's podFailurePolicy keys on EXIT_BAD_INPUT.
EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2

CHUNK = 1024 * 1024
# Files a processor run may leave in its output folder, in upload order.
OUTPUT_FILES = {
    "data.parquet": keys.data_key,
    "report.json": keys.report_key,
    "rejects.csv": keys.rejects_key,
}


def _file_chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            yield chunk


def publish(
    store: ObjectStore, bucket: str, dataset_id: str, out_dir: Path, result: dict[str, Any]
) -> None:
    """Upload every output, then the result manifest; a rerun overwrites the same keys.

    A ready result also gets the column names (from report.json), in `result` itself:
    the catalog records them wherever the manifest is applied, in this process or from
    the stored manifest, and indexes them for search."""
    if result.get("status") == "ready" and "columns" not in result:
        result["columns"] = _column_names(out_dir / "report.json")
    for name, key_for in OUTPUT_FILES.items():
        path = out_dir / name
        if path.exists():
            store.put_stream(bucket, key_for(dataset_id), _file_chunks(path))
    store.put_bytes(bucket, keys.result_key(dataset_id), json.dumps(result).encode())


def _column_names(report: Path) -> list[str] | None:
    try:
        columns = json.loads(report.read_text()).get("columns")
    except (OSError, ValueError, AttributeError):
        return None
    if not isinstance(columns, list):
        return None
    return [str(c["name"]) for c in columns if isinstance(c, dict) and "name" in c]


def publish_failure(store: ObjectStore, bucket: str, dataset_id: str, message: str) -> None:
    result = {"status": "failed", "error": message}
    store.put_bytes(bucket, keys.result_key(dataset_id), json.dumps(result).encode())


def read_result(store: ObjectStore, bucket: str, dataset_id: str) -> dict[str, Any] | None:
    try:
        with store.open(bucket, keys.result_key(dataset_id)) as fh:
            data: dict[str, Any] = json.loads(fh.read())
    except ObjectNotFound:
        return None
    return data


# Called with (dataset id, result manifest) each time apply_result records one: the API's
# /metrics exports the processor's figures from there (api/metrics.py). The composition
# root adds its listener at start and removes it at stop; empty otherwise.
ResultListener = Callable[[str, dict[str, Any]], None]
_listeners: list[ResultListener] = []


def add_result_listener(listener: ResultListener) -> Callable[[], None]:
    """Listen to recorded results; returns the function that stops listening."""
    _listeners.append(listener)

    def remove() -> None:
        if listener in _listeners:
            _listeners.remove(listener)

    return remove


def apply_result(catalog: Catalog, dataset_id: str, result: dict[str, Any]) -> bool:
    """Record a result manifest in the catalog; a no-op once the dataset is final."""
    applied = _record_result(catalog, dataset_id, result)
    if applied:
        for listener in list(_listeners):
            try:
                listener(dataset_id, result)
            except Exception:  # figures never break the recording of a result
                logging.getLogger(__name__).exception("result listener failed")
    return applied


def _record_result(catalog: Catalog, dataset_id: str, result: dict[str, Any]) -> bool:
    if result.get("status") == "ready":
        return catalog.mark_ready(
            dataset_id,
            rows_in=int(result.get("rows_in", 0)),
            rows_out=int(result.get("rows_out", 0)),
            rows_rejected=int(result.get("rows_rejected", 0)),
            schema_diff=_schema_change(result),
            columns=_columns(result),
        )
    return catalog.mark_failed(
        dataset_id,
        str(result.get("error") or "processing failed"),
        schema_diff=_schema_change(result),
    )


def _schema_change(result: dict[str, Any]) -> dict[str, Any] | None:
    change = result.get("schema_change")
    return change if isinstance(change, dict) else None


def _columns(result: dict[str, Any]) -> list[str] | None:
    columns = result.get("columns")
    if not isinstance(columns, list):
        return None
    return [str(c) for c in columns]
