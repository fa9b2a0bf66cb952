"""`python -m processor run`: one dataset from the raw bucket to the processed bucket."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import keys
from core.outputs import (
    CHUNK,
    EXIT_BAD_INPUT,
    EXIT_OK,
    apply_result,
    publish,
    publish_failure,
    read_result,
)
from core.settings import Settings
from core.storage.factory import make_store

from .pipeline import BadInput, ProcessOptions, process_csv

if TYPE_CHECKING:
    from core.catalog import Catalog


def options_from(raw: dict[str, Any], settings: Settings | None = None) -> ProcessOptions:
    """The upload's overrides plus the deployment's limits (MINI_MAX_REJECT_RATIO, ...)."""
    allowed = {"encoding", "delimiter", "header_row", "no_header"}
    chosen: dict[str, Any] = {k: v for k, v in raw.items() if k in allowed and v is not None}
    if "header_row" in chosen:
        # Users count lines from 1 (the upload form, the API, the CLI); the pipeline from 0.
        chosen["header_row"] = int(chosen["header_row"]) - 1
    if settings is not None:
        chosen["max_reject_ratio"] = settings.max_reject_ratio
        chosen["max_field_bytes"] = settings.max_field_bytes
        if settings.null_tokens is not None:
            chosen["null_tokens"] = tuple(settings.null_tokens)
    return ProcessOptions(**chosen)


def run_dataset(settings: Settings, dataset_id: str, options: dict[str, Any] | None = None) -> int:
    """Process one upload; `options` count only without the catalog (a Kubernetes Job)."""
    store = make_store(settings)
    bucket = settings.storage.processed_bucket
    catalog: Catalog | None = None
    if settings.processor.update_catalog:
        from core.catalog import Catalog  # only runs that update the catalog load it

        catalog = Catalog.from_url(settings.resolved_database_url())
        dataset = catalog.get(dataset_id)
        if dataset is None:
            print(f"error: unknown dataset {dataset_id}", file=sys.stderr)
            return EXIT_BAD_INPUT
        if dataset.is_final:
            # A second pod of the same Job, or a resumed run: the work is already recorded.
            return EXIT_OK
        catalog.mark_processing(dataset_id)
        raw_key, raw_options = dataset.raw_key, dataset.options
    else:
        # The runner records the manifest; a manifest from an earlier pod of the Job stands.
        previous = read_result(store, bucket, dataset_id)
        if previous is not None:
            print(f"dataset {dataset_id} already has a result: {previous.get('status')}")
            return EXIT_OK if previous.get("status") == "ready" else EXIT_BAD_INPUT
        raw_key, raw_options = keys.raw_key(dataset_id), options or {}
        if not store.exists(settings.storage.raw_bucket, raw_key):
            message = f"no uploaded file for dataset {dataset_id}"
            publish_failure(store, bucket, dataset_id, message)
            print(f"error: {message}", file=sys.stderr)
            return EXIT_BAD_INPUT
    print(f"processing dataset {dataset_id}", flush=True)
    with tempfile.TemporaryDirectory(prefix="mini-proc-") as tmp:
        out_dir = Path(tmp)
        try:
            report = process_csv(
                lambda: store.open(settings.storage.raw_bucket, raw_key),
                out_dir,
                options_from(raw_options, settings),
            )
        except BadInput as exc:
            message = str(exc)
            rejects = out_dir / "rejects.csv"
            if rejects.exists():
                # Failed for too many rejected rows: which rows, and why, stay readable.
                with rejects.open("rb") as fh:
                    store.put_stream(
                        bucket, keys.rejects_key(dataset_id), iter(lambda: fh.read(CHUNK), b"")
                    )
            publish_failure(store, bucket, dataset_id, message)
            if catalog is not None:
                catalog.mark_failed(dataset_id, message)
            print(f"error: {message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        result = {
            "status": "ready",
            "rows_in": int(report.get("rows_in", 0)),
            "rows_out": int(report.get("rows_out", 0)),
            "rows_rejected": int(report.get("rows_rejected", 0)),
        }
        publish(store, bucket, dataset_id, out_dir, result)
    if catalog is not None:
        apply_result(catalog, dataset_id, result)
    print(
        f"dataset {dataset_id} ready: {result['rows_in']} rows in, "
        f"{result['rows_out']} out, {result['rows_rejected']} rejected",
        flush=True,
    )
    return EXIT_OK
