"""`python -m processor run`: one dataset from the raw bucket to the processed bucket."""

from __future__ import annotations

import json
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core import keys, upload_options
from core.logs import EventWriter
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
from core.storage import ObjectNotFound, ObjectStore, StorageError, StorageUnavailable
from core.storage.factory import make_store

from .pipeline import BadInput, ProcessOptions, process_csv
from .pipeline.options import DEFAULT_NULL_TOKENS, Baseline
from .timing import Timeline

if TYPE_CHECKING:
    from core.catalog import Catalog

    from .pipeline.transform import Transform


# Reads the report.json of a baseline, given its id (None from the command line).
ReadReport = Callable[[str | None], Any]


def options_from(
    raw: dict[str, Any],
    settings: Settings | None = None,
    read_report: ReadReport | None = None,
) -> ProcessOptions:
    """The upload's overrides plus the deployment's limits (MINI_MAX_REJECT_RATIO, ...).

    Schema drift: ``on_schema_change`` ("pin", "reject" or "allow"; absent: "pin") and
    ``baseline`` ({"id", "version"} of the version served before; absent: the first
    version), whose columns ``read_report`` fetches. Cleaning options (core/upload_options.py):
    ``null_tokens`` (added to the deployment's list, or replacing it with
    ``null_tokens_replace``), ``dedupe``, ``decimal``, ``date_order``, ``types`` ({column:
    type}) and ``skip_rows``; ``transform``, a name registered in the settings (loaded
    here). Unknown keys are ignored.
    """
    allowed = {
        "encoding",
        "delimiter",
        "header_row",
        "no_header",
        "on_schema_change",
        "dedupe",
        "decimal",
        "date_order",
        "sheet",
    }
    chosen: dict[str, Any] = {k: v for k, v in raw.items() if k in allowed and v is not None}
    if "header_row" in chosen:
        # Users count lines from 1 (the upload form, the API, the CLI); the pipeline from 0.
        chosen["header_row"] = int(chosen["header_row"]) - 1
    elif raw.get("skip_rows") is not None:
        # N lines skipped: the header (or, with no_header, the first row) is line N + 1.
        chosen["header_row"] = chosen["skip_rows"] = _count(raw["skip_rows"], "skip_rows")
    if "dedupe" in chosen:
        chosen["dedupe"] = _flag(chosen["dedupe"], "dedupe")
    if raw.get("types"):
        chosen["types"] = _types(raw["types"])
    if "on_schema_change" in chosen:
        chosen["on_schema_change"] = str(chosen["on_schema_change"]).lower()
    if raw.get("baseline") is not None:
        chosen["baseline"] = baseline_from(raw["baseline"], read_report)
    if settings is not None:
        chosen["max_reject_ratio"] = settings.max_reject_ratio
        chosen["max_field_bytes"] = settings.max_field_bytes
        chosen["max_columns"] = settings.max_columns
        chosen["max_decompressed_bytes"] = settings.processor.max_decompressed_bytes
        if settings.null_tokens is not None:
            chosen["null_tokens"] = tuple(settings.null_tokens)
    if raw.get("transform") is not None:
        chosen["transform"] = transform_from(raw["transform"], settings)
    tokens = raw.get("null_tokens")
    if tokens is not None:
        if not isinstance(tokens, list | tuple) or not all(isinstance(t, str) for t in tokens):
            raise BadInput(f"null_tokens must be a list of strings, got {tokens!r:.100}")
        if _flag(raw.get("null_tokens_replace") or False, "null_tokens_replace"):
            # The empty value always means no value.
            base: tuple[str, ...] = ("",)
        else:
            base = chosen.get("null_tokens", DEFAULT_NULL_TOKENS)
        chosen["null_tokens"] = tuple(dict.fromkeys([*base, *tokens]))
    return ProcessOptions(**chosen)


def transform_from(name: Any, settings: Settings | None) -> Transform:
    """The registered transform ``name`` (MINI_PROCESSOR__TRANSFORMS), loaded: this is
    where pandas comes in, for the runs that chose one."""
    if not isinstance(name, str):
        raise BadInput(f"transform must be a registered name, got {name!r:.60}")
    from .pipeline.transform import load

    processor = (settings or Settings()).processor
    return load(name, processor.transforms, processor.transforms_path)


def _flag(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "1", "0"):
        return value.lower() in ("true", "1")
    raise BadInput(f"{name} must be true or false, got {value!r:.40}")


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput(f"{name} must be a number, got {value!r:.40}")
    try:
        number = int(value)
    except ValueError:
        raise BadInput(f"{name} must be a number, got {value!r:.40}") from None
    if number < 0:
        raise BadInput(f"{name} must be 0 or more, got {number}")
    return number


def _types(value: Any) -> tuple[tuple[str, str], ...]:
    """``types`` as stored ({column: type}) or as written (``cep:text,betrag:decimal``)."""
    if isinstance(value, str):
        try:
            value = upload_options.parse_types(value)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
    if not isinstance(value, dict):
        raise BadInput(f"types must map columns to types, got {value!r:.100}")
    out = []
    for column, kind in value.items():
        name = upload_options.type_name(str(kind))
        if name is None:
            raise BadInput(f"unknown type {kind!r} for column {column!r} in types")
        out.append((str(column), name))
    return tuple(out)


def baseline_from(raw: Any, read_report: ReadReport | None) -> Baseline:
    """The baseline option ({"id": 32 hex digits, "version": N}) with its columns."""
    if not isinstance(raw, dict):
        raise BadInput(f'baseline must be {{"id": ..., "version": ...}}, got {raw!r:.100}')
    version, version_id = raw.get("version"), raw.get("id")
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise BadInput(f"the baseline version must be a number, got {version!r:.40}")
    try:
        number = int(version)
    except ValueError:
        raise BadInput(f"the baseline version must be a number, got {version!r:.40}") from None
    if version_id is not None and not (
        isinstance(version_id, str) and keys.is_dataset_id(version_id)
    ):
        raise BadInput(
            f"the baseline id must be a dataset version id (32 hex digits), got {version_id!r:.60}"
        )
    if read_report is None:
        raise BadInput(f"version {number}, the baseline, has no report to compare with")
    return Baseline.from_report(read_report(version_id), number, version_id)


def store_report_reader(store: ObjectStore, bucket: str) -> ReadReport:
    """A baseline's report.json from the processed bucket. A baseline that cannot be read
    fails the new version (BadInput): the served schema must not be silently ignored."""

    def read(version_id: str | None) -> Any:
        if version_id is None:
            raise BadInput("the baseline has no id, so its report cannot be found")
        where = f"the report of the baseline version {version_id} ({keys.report_key(version_id)})"
        try:
            with store.open(bucket, keys.report_key(version_id)) as fh:
                return json.loads(fh.read())
        except StorageUnavailable:
            raise  # the store is down: an internal error, retried, not the file's fault
        except ObjectNotFound:
            raise BadInput(
                f"{where} does not exist, so this version cannot be compared with it"
            ) from None
        except (StorageError, ValueError) as exc:
            raise BadInput(
                f"{where} cannot be read ({exc}), so this version cannot be compared with it"
            ) from None

    return read


def file_report_reader(path: Path) -> ReadReport:
    """``--baseline-report PATH``: a report.json on local disk."""

    def read(_version_id: str | None) -> Any:
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BadInput(f"the baseline report {path} cannot be read: {exc}") from None

    return read


def publish_failed(
    store: ObjectStore,
    bucket: str,
    dataset_id: str,
    message: str,
    schema_change: dict[str, Any] | None,
) -> None:
    """The failure manifest, with the schema comparison when the file got that far."""
    if schema_change is None:
        publish_failure(store, bucket, dataset_id, message)
        return
    # core.outputs.publish_failure's keys, plus the comparison for the catalog.
    result = {"status": "failed", "error": message, "schema_change": schema_change}
    store.put_bytes(bucket, keys.result_key(dataset_id), json.dumps(result).encode())


def result_metrics(report: dict[str, Any], bytes_in: int) -> dict[str, Any]:
    """The figures the API exports on /metrics, carried in the result manifest."""
    durations = report.get("durations_s") or {}
    return {
        "bytes_in": int((report.get("input") or {}).get("bytes") or bytes_in),
        "bytes_out": int((report.get("output") or {}).get("bytes") or 0),
        "durations_s": {
            str(k): float(v) for k, v in durations.items() if isinstance(v, int | float)
        },
    }


def run_dataset(
    settings: Settings,
    dataset_id: str,
    options: dict[str, Any] | None = None,
    request_id: str | None = None,
    timeline: Timeline | None = None,
) -> int:
    """Process one upload; `options` count only without the catalog (a Kubernetes Job).
    The request id (of the upload) goes on every log line; else the options' one.
    With a `timeline` (a cold `python -m processor run`), the last line carries where
    the time went (processor/timing.py)."""
    say = EventWriter(
        settings.log_format.value,
        "processor",
        request_id or (options or {}).get("request_id"),
        dataset_id,
    )
    store = make_store(settings)
    mark = timeline.mark if timeline is not None else _no_mark
    if timeline is not None:
        store = timeline.timed(store)
    mark("store")
    bucket = settings.storage.processed_bucket
    catalog: Catalog | None = None
    if settings.processor.update_catalog:
        from core.catalog import SqlCatalog  # only runs that update the catalog load it

        catalog = SqlCatalog.from_url(settings.resolved_database_url())
        dataset = catalog.get(dataset_id)
        if dataset is None:
            say(f"unknown dataset {dataset_id}", level="error")
            return EXIT_BAD_INPUT
        say.request_id = say.request_id or dataset.options.get("request_id")
        if dataset.is_final:
            # A second pod of the same Job, or a resumed run: the work is already recorded.
            return EXIT_OK
        # A run started by hand owns its claim like a local runner would (host and pid),
        # so a runner on this host never takes it over while it lives.
        catalog.mark_processing(dataset_id, owner=f"local:{socket.gethostname()}:{os.getpid()}:run")
        raw_key, raw_options = dataset.raw_key, dataset.options
    else:
        # The runner records the manifest; a manifest from an earlier pod of the Job stands.
        previous = read_result(store, bucket, dataset_id)
        if previous is not None:
            say(f"dataset {dataset_id} already has a result: {previous.get('status')}")
            return EXIT_OK if previous.get("status") == "ready" else EXIT_BAD_INPUT
        raw_key, raw_options = keys.raw_key(dataset_id), options or {}
        if not store.exists(settings.storage.raw_bucket, raw_key):
            message = f"no uploaded file for dataset {dataset_id}"
            publish_failure(store, bucket, dataset_id, message)
            say(message, level="error")
            return EXIT_BAD_INPUT
    mark("check")
    say(f"processing dataset {dataset_id}")
    with tempfile.TemporaryDirectory(prefix="mini-proc-") as tmp:
        out_dir = Path(tmp)
        try:
            chosen = options_from(raw_options, settings, store_report_reader(store, bucket))
            report = process_csv(
                lambda: store.open(settings.storage.raw_bucket, raw_key), out_dir, chosen
            )
        except BadInput as exc:
            mark("process")
            message = str(exc)
            rejects = out_dir / "rejects.csv"
            if rejects.exists():
                # Failed for too many rejected rows: which rows, and why, stay readable.
                with rejects.open("rb") as fh:
                    store.put_stream(
                        bucket, keys.rejects_key(dataset_id), iter(lambda: fh.read(CHUNK), b"")
                    )
            publish_failed(store, bucket, dataset_id, message, exc.schema_change)
            if catalog is not None:
                catalog.mark_failed(dataset_id, message, schema_diff=exc.schema_change)
            mark("publish")
            say(message, level="error", outcome="failed", **_timing(timeline))
            return EXIT_BAD_INPUT
        result = {
            "status": "ready",
            "rows_in": int(report.get("rows_in", 0)),
            "rows_out": int(report.get("rows_out", 0)),
            "rows_rejected": int(report.get("rows_rejected", 0)),
            "schema_change": report.get("schema_change"),
            "metrics": result_metrics(report, 0),
        }
        mark("process")
        publish(store, bucket, dataset_id, out_dir, result)
    mark("publish")
    if catalog is not None:
        apply_result(catalog, dataset_id, result)
        mark("catalog")
    say(
        f"dataset {dataset_id} ready: {result['rows_in']} rows in, "
        f"{result['rows_out']} out, {result['rows_rejected']} rejected",
        outcome="ready",
        rows_in=result["rows_in"],
        rows_out=result["rows_out"],
        rows_rejected=result["rows_rejected"],
        **_timing(timeline),
    )
    return EXIT_OK


def _no_mark(_phase: str) -> None:
    pass


def _timing(timeline: Timeline | None) -> dict[str, Any]:
    return timeline.fields() if timeline is not None else {}
