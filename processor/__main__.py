"""Command line: `process IN OUT` on local files, `run --dataset-id ID` on uploads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .pipeline import BadInput, ProcessOptions, process_csv
from .run import EXIT_BAD_INPUT, EXIT_OK, run_dataset
from .settings import Settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m processor")
    sub = parser.add_subparsers(dest="command", required=True)
    proc = sub.add_parser("process", help="clean a local CSV into OUTDIR/data.parquet")
    proc.add_argument("input", type=Path)
    proc.add_argument("outdir", type=Path)
    proc.add_argument("--encoding")
    proc.add_argument("--delimiter")
    proc.add_argument("--header-row", type=int)
    proc.add_argument("--no-header", action="store_true")
    run = sub.add_parser("run", help="process one uploaded dataset from object storage")
    run.add_argument("--dataset-id", required=True)
    return parser


def _process(args: argparse.Namespace) -> int:
    if not args.input.is_file():
        print(f"error: {args.input} is not a file", file=sys.stderr)
        return EXIT_BAD_INPUT
    args.outdir.mkdir(parents=True, exist_ok=True)
    options = ProcessOptions(
        encoding=args.encoding,
        delimiter=args.delimiter,
        header_row=args.header_row,
        no_header=args.no_header,
    )
    try:
        process_csv(lambda: args.input.open("rb"), args.outdir, options)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "process":
        return _process(args)
    return run_dataset(Settings(), args.dataset_id)


if __name__ == "__main__":
    sys.exit(main())
