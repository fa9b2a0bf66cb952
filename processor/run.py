"""`python -m processor run`: one dataset from the raw bucket to the processed bucket."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

from .catalog import Catalog
from .outputs import EXIT_BAD_INPUT, EXIT_OK, apply_result, publish, publish_failure
from .pipeline import BadInput, ProcessOptions, process_csv
from .settings import Settings
from .storage.factory import make_store


def options_from(raw: dict[str, Any]) -> ProcessOptions:
    allowed = {"encoding", "delimiter", "header_row", "no_header"}
    return ProcessOptions(**{k: v for k, v in raw.items() if k in allowed and v is not None})


def run_dataset(settings: Settings, dataset_id: str) -> int:
    catalog = Catalog.from_url(settings.resolved_database_url())
    store = make_store(settings)
    dataset = catalog.get(dataset_id)
    if dataset is None:
        print(f"error: unknown dataset {dataset_id}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if dataset.is_final:
        # A second pod of the same Job, or a resumed run: the work is already recorded.
        return EXIT_OK
    catalog.mark_processing(dataset_id)
    bucket = settings.storage.processed_bucket
    with tempfile.TemporaryDirectory(prefix="mini-proc-") as tmp:
        out_dir = Path(tmp)
        try:
            options = options_from(dataset.options)
            report = process_csv(
                lambda: store.open(settings.storage.raw_bucket, dataset.raw_key),
                out_dir,
                options,
            )
        except BadInput as exc:
            message = str(exc)
            publish_failure(store, bucket, dataset_id, message)
            catalog.mark_failed(dataset_id, message)
            print(f"error: {message}", file=sys.stderr)
            return EXIT_BAD_INPUT
        result = {
            "status": "ready",
            "rows_in": int(report.get("rows_in", 0)),
            "rows_out": int(report.get("rows_out", 0)),
            "rows_rejected": int(report.get("rows_malformed", 0)),
        }
        publish(store, bucket, dataset_id, out_dir, result)
    apply_result(catalog, dataset_id, result)
    return EXIT_OK
