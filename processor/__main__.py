"""Command line: `process IN OUT` on local files, `run --dataset-id ID` on uploads,
`reconcile` for uploads whose processing was lost."""

from __future__ import annotations

# First: a cold run's imports below go faster with the cycle collector paused (see there).
from . import coldstart

# isort: split
import argparse
import contextlib
import functools
import json
import os
import sys
import time
from pathlib import Path

import pyarrow as pa

from core import upload_options
from core.logs import configure_logging
from core.outputs import EXIT_BAD_INPUT, EXIT_OK
from core.settings import NO_TRANSFORM, Settings

from . import STARTED
from .nopandas import without_pandas
from .pipeline import BadInput, process_csv
from .run import file_report_reader, options_from, run_dataset
from .summary import summary
from .timing import Timeline


# Built once per process: a fork server's children each parse with the parser it built
# (≈ 2 ms of a tiny file's run otherwise).
@functools.cache
def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m processor")
    sub = parser.add_subparsers(dest="command", required=True)
    proc = sub.add_parser("process", help="clean a local CSV into OUTDIR/data.parquet")
    proc.add_argument("input", type=Path)
    proc.add_argument("outdir", type=Path)
    proc.add_argument("--encoding", help="e.g. latin-1; default: detected")
    proc.add_argument("--delimiter", help="one character, or comma/semicolon/tab/pipe")
    proc.add_argument(
        "--header-row",
        type=int,
        help="line of the header, from 1 (with --no-header: the first data line)",
    )
    proc.add_argument("--no-header", action="store_true", help="the first line is data")
    proc.add_argument("--skip-rows", type=int, metavar="N", help="lines to skip above the header")
    proc.add_argument(
        "--null-tokens",
        metavar="LIST",
        help="values meaning no value, comma-separated (k.A.,n/d): added to the defaults",
    )
    proc.add_argument(
        "--null-tokens-replace",
        action="store_true",
        help="--null-tokens replace the default list instead",
    )
    proc.add_argument(
        "--dedupe", action="store_true", help="remove exact duplicate rows (always reported)"
    )
    proc.add_argument("--decimal", help="the decimal mark of number columns: , or .")
    proc.add_argument("--date-order", help="dmy, mdy or ymd")
    proc.add_argument("--types", metavar="COL:TYPE,...", help="column types, e.g. cep:text")
    proc.add_argument(
        "--transform",
        metavar="NAME",
        help="a pandas transform registered in MINI_PROCESSOR__TRANSFORMS",
    )
    proc.add_argument(
        "-q", "--quiet", action="store_true", help="print nothing on success (errors still)"
    )
    proc.add_argument(
        "--baseline-report",
        type=Path,
        metavar="PATH",
        help="report.json of the version served before: compare the columns with it",
    )
    proc.add_argument(
        "--baseline-version",
        type=int,
        default=None,
        metavar="N",
        help="that version's number, for messages and rejects (default: 1)",
    )
    proc.add_argument(
        "--on-schema-change",
        choices=("pin", "reject", "allow"),
        default=None,
        help="what a difference from the baseline does (default: pin)",
    )
    run = sub.add_parser("run", help="process one uploaded dataset from object storage")
    run.add_argument("--dataset-id", required=True)
    run.add_argument(
        "--options", type=json.loads, default=None, help="JSON upload options (Kubernetes Jobs)"
    )
    run.add_argument(
        "--request-id",
        default=os.environ.get("MINI_REQUEST_ID"),
        help="the upload's request id for the log lines (default: $MINI_REQUEST_ID, "
        "else the one in the options)",
    )
    rec = sub.add_parser("reconcile", help="re-queue uploads whose processing was lost")
    rec.add_argument("--grace-seconds", type=float, default=None, help="default: 600")
    rec.add_argument("--stale-seconds", type=float, default=None)
    return parser


def _process(args: argparse.Namespace) -> int:
    if not args.input.is_file():
        print(f"error: {args.input} is not a file", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.outdir.mkdir(parents=True, exist_ok=True)
    if args.baseline_version is not None and args.baseline_report is None:
        print("error: --baseline-version needs --baseline-report", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.skip_rows is not None and args.header_row is not None:
        print("error: give --header-row or --skip-rows, not both", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        # The same parsing and checks as the upload's query string.
        cleaning = upload_options.cleaning_options(
            null_tokens=args.null_tokens,
            null_tokens_replace=args.null_tokens_replace or None,
            dedupe=args.dedupe or None,
            decimal=args.decimal,
            date_order=args.date_order,
            types=args.types,
            skip_rows=args.skip_rows,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    overrides = {
        "encoding": args.encoding,
        "delimiter": args.delimiter,
        "header_row": args.header_row,
        "no_header": args.no_header or None,
        "on_schema_change": args.on_schema_change,
        **cleaning,
    }
    if args.transform is not None and args.transform != NO_TRANSFORM:
        overrides["transform"] = args.transform
    reader = None
    if args.baseline_report is not None:
        overrides["baseline"] = {"id": None, "version": args.baseline_version or 1}
        reader = file_report_reader(args.baseline_report)
    try:
        # MINI_MAX_REJECT_RATIO, MINI_MAX_FIELD_BYTES and MINI_NULL_TOKENS apply here too.
        options = options_from(overrides, Settings(), reader)
        started = time.perf_counter()
        report = process_csv(lambda: args.input.open("rb"), args.outdir, options)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not args.quiet:
        print(summary(report, args.input, args.outdir, time.perf_counter() - started))
    return EXIT_OK


def use_jemalloc() -> None:
    """Arrow allocations from jemalloc, unless ARROW_DEFAULT_MEMORY_POOL says otherwise.

    pyarrow's default (mimalloc) keeps freed pages: on the 4 GB benchmark file the
    write pass peaked at 518 MiB with it and 365 MiB with jemalloc, at the same speed.
    """
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ:
        return
    # A pyarrow built without jemalloc keeps its default.
    with contextlib.suppress(NotImplementedError):
        pa.set_memory_pool(pa.jemalloc_memory_pool())


# The settings a fork server built before forking, with the environment they were
# built from: its children reuse them while the environment is the same (pydantic-
# settings' parse is ≈ 4 ms of a tiny file's run).
_BUILT: tuple[tuple[tuple[str, str], ...], Settings] | None = None


def _settings_env() -> tuple[tuple[str, str], ...]:
    # pydantic-settings matches names case-insensitively.
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.upper().startswith("MINI_")))


def prebuild_settings() -> Settings:
    """Build the settings once (the fork server, before forking)."""
    global _BUILT
    settings = Settings()
    _BUILT = (_settings_env(), settings)
    return settings


def settings_from_env() -> Settings:
    if _BUILT is not None and _BUILT[0] == _settings_env():
        return _BUILT[1]
    return Settings()


def main(argv: list[str] | None = None) -> int:
    # A cold run's imports end here; its last log line says where its time went.
    coldstart.imported()
    timeline = Timeline(STARTED)
    timeline.mark("imports")
    args = _parser().parse_args(argv)
    use_jemalloc()
    if args.command == "process":
        return _process(args)
    if args.command == "reconcile":
        # Imported here: it loads the catalog, which `process` never needs.
        from .reconcile import DEFAULT_GRACE_SECONDS, reconcile_main

        grace = DEFAULT_GRACE_SECONDS if args.grace_seconds is None else args.grace_seconds
        settings = Settings()
        # Its log lines (re-queued, recorded, deleted) as text or JSON (MINI_LOG_FORMAT).
        configure_logging(settings.log_format.value, "reconciler")
        return reconcile_main(settings, grace_seconds=grace, stale_seconds=args.stale_seconds)
    settings = settings_from_env()
    timeline.mark("settings")
    return run_dataset(settings, args.dataset_id, args.options, args.request_id, timeline)


if __name__ == "__main__":
    without_pandas()
    sys.exit(main())
