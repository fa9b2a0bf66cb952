"""CSV → Parquet: detect on a sample, then two streaming passes over one CSV parse.

1. **scan**: parse the CSV (once), clean every value, fold it into the column
   statistics that decide the types, hash every row for duplicate detection, and
   spill the cleaned strings to local disk.
2. **write**: read them back, drop exact duplicates (dedup.py), convert each column
   to its type, gather the report's column facts and write Parquet.

Each pass runs its reading, its work and its writing in separate threads (stage.py).
Memory holds a few batches, never the file; the spills live in ``options.temp_dir``.
"""

from __future__ import annotations

import codecs
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import numpy as np
import pyarrow as pa

from core.sniff import not_csv_message, text_format
from processor import inputs

from . import dedup, schema_change
from .choices import decide, forced_columns, forced_target
from .cleaning import CleanCounts, clean_column, drop_empty_rows
from .convert import arrow_type, convert, convert_to
from .dialect import Dialect, detect_dialect
from .encoding import EncodingInfo, RawDigest, decode_error, detect_encoding
from .errors import SUSPECTED_UNTERMINATED, BadInput
from .headers import normalise_headers
from .infer import ColumnStats, ColumnType, accumulate
from .multiline import SAMPLE as MULTILINE_SAMPLE
from .multiline import Multiline, Suspect, raw_row, scan_batch
from .options import MIB, ProcessOptions
from .reader import (
    BatchLines,
    BlockTooSmall,
    ReadState,
    Reject,
    RejectLog,
    internal_names,
    parse,
)
from .rejects import FILE as REJECTS_FILE
from .rejects import ContractRejects, RejectsFile
from .report import DATA_FILE, Timings, build_report, transform_change, transform_report
from .rowhash import DistinctEstimate, row_hashes, value_hashes
from .schema_change import Target, Watch, a_type, schema_change_dict
from .spill import SpillWriter, read_spill
from .stage import Consumer, Producer
from .stats import TableSummary
from .strbuf import lengths, value_bytes
from .transform import Applied, BatchTransform
from .version import processor_version
from .writer import ParquetSink, dictionary_columns, output_schema, write_json_atomic

REPORT_FILE = "report.json"
# JSON, NDJSON, XML and HTML are told from the start of the text (as at upload).
SNIFF_CHARS = 4096
ROW_LABELS = "row_label"
# Written beside the output while values pinned to a baseline's type are being checked:
# the data becomes data.parquet only if the rows they reject stay within the limit.
UNCHECKED_DATA_FILE = ".data.parquet.unchecked"
# Per-column work of a batch (cleaning, inference, conversion, statistics) runs on two
# threads: pyarrow and numpy release the GIL, and the columns are independent.
COLUMNS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="columns")
OpenInput = Callable[[], BinaryIO]
T = TypeVar("T")


def process_csv(
    open_input: OpenInput,
    out_dir: Path,
    options: ProcessOptions = ProcessOptions(),  # noqa: B008 - frozen, safe to share
) -> dict[str, Any]:
    """Read the CSV (``open_input()`` may be called several times; each call returns a
    fresh binary stream from the start, never seeked), write ``out_dir/data.parquet``,
    ``out_dir/rejects.csv`` when rows were rejected, then ``out_dir/report.json``, and
    return the report.

    The upload may also be gzip, a zip of one file, a workbook, a JSON array or NDJSON
    (processor/inputs/): it is read as the CSV it is turned into.

    Raises BadInput for files that cannot be processed; anything else is a bug.
    """
    timings = Timings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mini-proc-", dir=options.temp_dir) as tmp:
        work = Path(tmp)
        source = inputs.prepare(open_input, work, options)
        open_input, options = source.open, source.options
        encoding, dialect = detect(open_input, options)
        timings.mark("detect")
        scan = with_growing_blocks(
            options,
            lambda block: scan_pass(
                open_input, encoding, dialect, options, block, work, source.linemap
            ),
        )
        if source.rejects is not None:
            # Records the input's own reading refused (an NDJSON line that is not JSON).
            scan.input_rejects = source.rejects.count
            scan.rejects.merge(source.rejects)
        timings.mark("scan")
        try:
            check_rejects(scan, options)
        except BadInput:
            # Too many rejects: the file fails, but which rows and why is worth keeping.
            publish_rejects(scan, out_dir)
            raise
        layout = decide_layout(dialect, scan, options)
        drift = layout.drift
        contract: ContractRejects | None = None
        try:
            if drift is not None:
                drift.enforce()
            if options.transform is not None:
                # Its declared schema, from this file's typed columns: what is served.
                layout.served = options.transform.output_schema(layout.schema)
            plan = dedup.plan(scan.hashes, COLUMNS)
            timings.mark("dedupe_plan")
            if layout.checked:
                contract = ContractRejects(
                    work / f"pinned-{REJECTS_FILE}", dialect.delimiter, dialect.quote
                )
                written = write_checked(scan, layout, plan, out_dir, options, contract)
            else:
                written = write_pass(scan, layout, plan, out_dir / DATA_FILE, options)
            timings.mark("write")
        except BadInput as exc:
            if drift is not None:
                exc.schema_change = drift.as_dict(pinned_rejects(contract))
            raise
        publish_rejects(scan, out_dir)
        report = build_report(
            encoding=encoding,
            dialect=dialect,
            scan=scan,
            layout=layout,
            plan=plan,
            written=written,
            timings=timings,
        )
        if drift is not None:
            drift.with_nulls(written_nulls(layout, written))
            changes = drift.as_dict(pinned_rejects(contract))
        else:
            changes = schema_change_dict(None, options.on_schema_change, None, rejected={})
        report["input"] = {**report["input"], **source.report()}
        source.source_lines(report)
        report["options"] = options_used(options)
        report["multiline"] = scan.multiline.as_dict()
        report["schema_change"] = changes
        if options.transform is not None:
            transform_report(report, options.transform, layout, written)
        if options.baseline is not None:
            transform_change(report, options.baseline, options.transform)
        if drift is not None and changes["changed"]:
            report["warnings"].append(
                f"the columns differ from version {drift.baseline.version}: "
                f"{schema_change.describe(changes)}"
            )
    write_json_atomic(out_dir / REPORT_FILE, report)
    return report


def options_used(options: ProcessOptions) -> dict[str, Any]:
    """report.json's ``options``: what the user chose (None: detected) and the policy."""
    return {
        "encoding": options.encoding,
        "delimiter": options.delimiter,
        # Counted from 1, as the user gave it.
        "header_row": None if options.header_row is None else options.header_row + 1,
        "no_header": options.no_header,
        "skip_rows": options.skip_rows,
        "on_schema_change": options.on_schema_change,
        "baseline": options.baseline.as_dict() if options.baseline is not None else None,
        "null_tokens": list(options.null_tokens),
        "dedupe": options.dedupe,
        "decimal": options.decimal,
        "date_order": options.date_order,
        "types": dict(options.types) or None,
        "transform": options.transform.name if options.transform is not None else None,
    }


def pinned_rejects(contract: ContractRejects | None) -> dict[str, int]:
    return dict(contract.columns) if contract is not None else {}


def written_nulls(layout: Layout, written: Written) -> dict[str, int]:
    """Nulls per column of the file (before a transform), for the comparison."""
    nulls = written.input_nulls
    return {layout.names[i]: nulls[position] for position, i in enumerate(layout.kept)}


# --- detection -------------------------------------------------------------------


def read_sample(open_input: OpenInput, size: int) -> tuple[bytes, bool]:
    """First ``size`` bytes and whether they are the whole file."""
    stream = open_input()
    try:
        parts: list[bytes] = []
        got = 0
        while got <= size:
            chunk = stream.read(size + 1 - got)
            if not chunk:
                break
            parts.append(chunk)
            got += len(chunk)
    finally:
        stream.close()
    data = b"".join(parts)
    return data[:size], len(data) <= size


def decode_sample(sample: bytes, encoding: EncodingInfo, at_eof: bool) -> str:
    decoder = codecs.getincrementaldecoder(encoding.encoding)("strict")
    body = sample[encoding.bom_length :]
    try:
        text: str = decoder.decode(body, final=at_eof)
    except UnicodeDecodeError as exc:
        byte = body[exc.start] if exc.start < len(body) else None
        raise decode_error(encoding.encoding, encoding.bom_length + exc.start, byte) from None
    return text


def detect(open_input: OpenInput, options: ProcessOptions) -> tuple[EncodingInfo, Dialect]:
    sample, at_eof = read_sample(open_input, options.sample_bytes)
    if not sample:
        raise BadInput("the file is empty")
    encoding = detect_encoding(sample, at_eof, options.encoding)
    text = decode_sample(sample, encoding, at_eof)
    if "\x00" in text:
        raise BadInput("this looks like a binary file, not CSV: it contains NUL characters")
    if not text.strip():
        raise BadInput("the file has no columns: it is empty or only blank lines")
    kind = text_format(text[:SNIFF_CHARS])
    if kind:
        raise BadInput(not_csv_message(kind))
    dialect = detect_dialect(
        text,
        truncated=not at_eof,
        delimiter=options.delimiter,
        header_row=options.header_row,
        no_header=options.no_header,
        null_tokens=frozenset(options.null_tokens),
    )
    if len(dialect.header) > options.max_columns:
        raise BadInput(
            f"the file has {len(dialect.header)} columns, more than the {options.max_columns} "
            "allowed (MINI_MAX_COLUMNS); split it into narrower files or transpose it"
        )
    return encoding, dialect


# --- pass 1: parse, clean, infer, spill ------------------------------------------------


@dataclass
class Scan:
    stats: list[ColumnStats]
    log: RejectLog
    rejects: RejectsFile
    state: ReadState
    clean: CleanCounts
    spill: Path
    spilled_rows: int
    block_size: int
    sha256: str
    input_bytes: int
    hashes: dedup.HashSpill
    distinct: list[DistinctEstimate]
    # With a baseline: its non-text columns followed through the pass (by input index),
    # and, when the policy pins them, the physical line of every spilled row.
    watches: dict[int, Watch] = field(default_factory=dict)
    lines: Path | None = None
    multiline: Multiline = field(default_factory=Multiline)
    # Records of a JSON input refused before they were rows (processor/inputs/).
    input_rejects: int = 0

    @property
    def rows_in(self) -> int:
        """Records read below the header: valid, rejected and blank alike."""
        return self.state.rows + self.log.count + self.log.blank + self.input_rejects


def rows_before_data(dialect: Dialect) -> int:
    return dialect.skip_lines + (1 if dialect.has_header else 0)


def with_growing_blocks(options: ProcessOptions, run: Callable[[int], T]) -> T:
    """Run a pass, retrying with bigger blocks while a row does not fit in one block.

    pyarrow needs each row within one block (two, in fact); a few huge values should
    not force big blocks, and so more memory, on every file.
    """
    limit = max(options.block_size, 2 * options.max_field_bytes + MIB)
    block = options.block_size
    while True:
        try:
            return run(block)
        except BlockTooSmall:
            if block >= limit:
                raise BadInput(
                    f"a row is larger than {limit // MIB} MiB: a quoted field is probably "
                    f"never closed, or a value is over the {options.max_field_bytes} byte "
                    f"limit (MINI_MAX_FIELD_BYTES)"
                ) from None
            block = min(block * 4, limit)


def check_field_size(values: pa.Array, limit: int, column: str, lines: BatchLines) -> None:
    if len(value_bytes(values)) <= limit:
        # No value can be longer than all of them together: the usual case, no pass.
        return
    sizes = lengths(values)
    if not sizes.size or int(sizes.max()) <= limit:
        return
    longest = int(sizes.argmax())
    value = values[longest].as_py() or ""
    hint = ""
    if value.count("\n") + value.count("\r") > 1:
        hint = "; it spans many lines, so a quoted field is probably never closed"
    line = lines.lines_of([longest])[0]
    raise BadInput(
        f"column {column!r} has a value of {len(value.encode())} bytes on line {line}; "
        f"the limit is {limit} bytes (MINI_MAX_FIELD_BYTES){hint}"
    )


def scan_pass(
    open_input: OpenInput,
    encoding: EncodingInfo,
    dialect: Dialect,
    options: ProcessOptions,
    block_size: int,
    work: Path,
    linemap: inputs.LineMap | None = None,
) -> Scan:
    ncols = len(dialect.header)
    schema = pa.schema([(name, pa.string()) for name in internal_names(ncols)])
    log = RejectLog(rows_before_data(dialect), dialect.header_line_breaks, dialect.quote or "")
    rejects = RejectsFile(work / REJECTS_FILE)
    state = ReadState()
    digest = RawDigest(validate_utf8=encoding.encoding == "utf-8")
    spill = SpillWriter(work / "strings.arrows", schema)
    hashing = RowHasher(work / "dedup", ncols)
    stats = [ColumnStats() for _ in range(ncols)]
    counts = CleanCounts.for_tokens(options.null_tokens)
    names = [h or f"#{i + 1}" for i, h in enumerate(dialect.header)]
    watches: dict[int, Watch] = {}
    if options.baseline is not None:
        watches = schema_change.watches(normalise_headers(list(dialect.header)), options.baseline)
    # Pass 2 knows rows, not lines: note each spilled row's line here (8 bytes a row on
    # local disk), for duplicates, pinned values and forced types that do not fit.
    lines_path = work / "lines.i64"
    lines_file = lines_path.open("wb")
    multiline = Multiline()
    delimiter = None if dialect.aligned else dialect.delimiter

    def produce() -> Any:
        if linemap is not None:
            # A CSV written from a workbook or JSON: its rows report the source's lines.
            return ((raw, linemap.wrap(lines)) for raw, lines in parse_csv())
        return parse_csv()

    def parse_csv() -> Any:
        return parse(
            open_input,
            encoding,
            dialect,
            block_size,
            options.batch_bytes,
            log,
            rejects,
            digest,
            state,
        )

    last_data: tuple[BatchLines, int] | None = None  # where the last non-empty row is
    try:
        with Producer(produce, depth=2, name="csv-parse") as batches:
            for raw, lines in batches:
                columns = raw.columns
                for i, values in enumerate(columns):
                    check_field_size(values, options.max_field_bytes, names[i], lines)
                suspects: list[Suspect] = []
                # A generated CSV is quoted soundly: no quote there can be left open.
                if lines.breaks and linemap is None:
                    spans, suspects, lines.row_breaks = scan_batch(
                        columns, delimiter, dialect.quote, multiline
                    )
                    if spans is not None and len(multiline.lines) < MULTILINE_SAMPLE:
                        first = np.flatnonzero(spans)[: MULTILINE_SAMPLE - len(multiline.lines)]
                        multiline.lines.extend(lines.lines_of(first.tolist()))
                    for suspect in suspects:
                        rejects.add(suspect_reject(columns, suspect, lines, dialect, delimiter))
                    multiline.suspected += len(suspects)
                results = COLUMNS.map(lambda v: clean_column(v, counts.tokens), columns)
                cleaned = []
                for values, trimmed, nulled in results:
                    cleaned.append(values)
                    counts.values_trimmed += trimmed
                    counts.values_nulled += nulled
                cleaned, kept_rows, empty = drop_empty_rows(cleaned)
                counts.empty_rows += empty
                if suspects:
                    cleaned, kept_rows = drop_rows(
                        cleaned, kept_rows, [s.row for s in suspects], raw.num_rows
                    )
                if kept_rows is None and raw.num_rows:
                    last_data = (lines, raw.num_rows - 1)
                elif kept_rows is not None and len(kept_rows):
                    last_data = (lines, int(kept_rows[-1]))
                line_of = row_lines(lines, kept_rows)
                if watches:
                    watch = partial(_fold_watched, watches, line_of=line_of)
                    list(COLUMNS.map(watch, range(ncols), stats, cleaned))
                else:
                    fold = partial(_fold, line_of=line_of)
                    list(COLUMNS.map(fold, stats, cleaned))
                lines_file.write(lines.all_lines(kept_rows).astype(np.int64).tobytes())
                hashing.put(cleaned)
                spill.write(pa.RecordBatch.from_arrays(cleaned, schema=schema))
        spill.close()
        hashing.close()
        rejects.finish(last_data[0].last_line_of(last_data[1]) if last_data else None)
        sha256 = digest.finish()
        lines_file.close()
    except BaseException as exc:
        lines_file.close()
        spill.abort()
        hashing.abandon()
        rejects.close()
        precise = digest.error() if not isinstance(exc, KeyboardInterrupt) else None
        digest.abandon()
        if precise is not None and precise is not exc:
            raise precise from None
        raise
    return Scan(
        stats=stats,
        log=log,
        rejects=rejects,
        state=state,
        clean=counts,
        spill=spill.path,
        spilled_rows=spill.rows,
        block_size=block_size,
        sha256=sha256,
        input_bytes=digest.size,
        hashes=hashing.hashes,
        distinct=hashing.distinct,
        watches=watches,
        lines=lines_path,
        multiline=multiline,
    )


def suspect_reject(
    columns: list[pa.Array],
    suspect: Suspect,
    lines: BatchLines,
    dialect: Dialect,
    delimiter: str | None,
) -> Reject:
    """The reject of a row whose quoted value swallowed lines that are records."""
    text = raw_row(columns, suspect.row, delimiter, dialect.quote)
    count = len(suspect.lines)
    return Reject(
        SUSPECTED_UNTERMINATED,
        f"a quoted value that starts on this line holds {count} whole line(s) that each "
        f"read as a complete record of {len(columns)} fields (the first: "
        f"{suspect.lines[0][:80]!r}): its quote is probably never closed where it should "
        f"be, so the row is rejected rather than merged with them",
        text,
        len(columns),
        len(columns),
        line=lines.lines_of([suspect.row])[0],
    )


def drop_rows(
    columns: list[pa.Array], kept_rows: np.ndarray | None, rows: list[int], num_rows: int
) -> tuple[list[pa.Array], np.ndarray]:
    """``columns`` (the batch's rows ``kept_rows``, None: all) without the batch's
    ``rows``; the indexes of the rows left."""
    index = np.arange(num_rows) if kept_rows is None else kept_rows
    keep = ~np.isin(index, rows)
    mask = pa.array(keep)
    return [c.filter(mask) for c in columns], index[keep]


def _fold(stats: ColumnStats, values: pa.Array, line_of: Callable[[list[int]], list[int]]) -> None:
    accumulate(stats, values, line_of)


def _fold_watched(
    watches: dict[int, Watch],
    column: int,
    stats: ColumnStats,
    values: pa.Array,
    line_of: Callable[[list[int]], list[int]],
) -> None:
    watch = watches.get(column)
    if watch is None:
        accumulate(stats, values, line_of)
    else:
        watch.fold(stats, values, line_of)


def row_lines(lines: BatchLines, kept_rows: np.ndarray | None) -> Callable[[list[int]], list[int]]:
    """Lines of rows given by their index after empty rows were dropped."""

    def line_of(rows: list[int]) -> list[int]:
        if kept_rows is not None:
            rows = [int(kept_rows[r]) for r in rows]
        return lines.lines_of(rows)

    return line_of


def check_rejects(scan: Scan, options: ProcessOptions) -> None:
    rejects = scan.rejects
    if not rejects.count:
        return
    # A quote that is never closed swallows the lines after it: count those too.
    rejected = rejects.weight
    total = scan.rows_in - rejects.count + rejects.weight
    if rejected <= options.max_reject_ratio * total:
        return
    reasons = ", ".join(f"{reason}: {n}" for reason, n in rejects.reasons.most_common())
    first = rejects.sample[0]
    raise BadInput(
        f"{rejected} of {total} rows ({100 * rejected / max(total, 1):.0f}%) were rejected "
        f"({reasons}), more than the {100 * options.max_reject_ratio:.0f}% allowed "
        f"(MINI_MAX_REJECT_RATIO); the first is line {first['line']}: {first['detail']}"
    )


# --- types and output columns ------------------------------------------------------


@dataclass
class Layout:
    """Which input columns are kept, and their names and types in the output."""

    names: list[str]
    original_names: list[str]
    types: list[ColumnType]  # one per input column
    kept: list[int]  # input column indexes, in order
    dropped: list[int]
    schema: pa.Schema
    # With a baseline: how each input column is read and stored, and the comparison.
    targets: list[Target] | None = None
    drift: schema_change.Plan | None = None
    # What the decimal and date_order options did to a column, for its report notes.
    notes: dict[int, list[str]] = field(default_factory=dict)
    # With a transform: its declared output, the schema served (``schema`` is its input).
    served: pa.Schema | None = None

    @property
    def output(self) -> pa.Schema:
        return self.served if self.served is not None else self.schema

    @property
    def checked(self) -> bool:
        """Some values may not fit the type pinned by the baseline (their rows rejected)."""
        return self.targets is not None and any(self.targets[i].checked for i in self.kept)

    def stored_type(self, i: int) -> ColumnType:
        return self.targets[i].served if self.targets is not None else self.types[i]


def decide_layout(
    dialect: Dialect,
    scan: Scan,
    options: ProcessOptions = ProcessOptions(),  # noqa: B008 - frozen, safe to share
) -> Layout:
    original = list(dialect.header)
    names = normalise_headers(original)
    if dialect.row_labels and not original[0].strip() and ROW_LABELS not in names:
        # The row-label column has no header cell: it gets a name, said in the report.
        names[0] = ROW_LABELS
    hint = dialect.delimiter == ";" if options.decimal is None else options.decimal == ","
    decided = [decide(s, hint, options) for s in scan.stats]
    types = [ctype for ctype, _ in decided]
    notes = {i: [note] for i, (_, note) in enumerate(decided) if note}
    forced = {
        f.column: forced_target(f.kind, types[f.column], scan.stats[f.column], options)
        for f in forced_columns(names, original, options.types)
    }
    # The types a user set are the file's own types for the comparison with a baseline.
    own = [forced[i].served if i in forced else t for i, t in enumerate(types)]
    has_rows = any(s.values for s in scan.stats)
    # A column without a single value says nothing; a file without any value keeps its
    # header, so the empty result still has the columns the user expects.
    kept = [i for i, s in enumerate(scan.stats) if s.values or not has_rows]
    targets: list[Target] | None = None
    drift = None
    if options.baseline is not None:
        drift = schema_change.plan(
            options.baseline,
            options.on_schema_change,
            names,
            own,
            scan.stats,
            scan.watches,
            decimal_comma_hint=hint,
        )
        # The baseline's columns stay even when this file has no value in them.
        kept = sorted(set(kept) | set(drift.empty))
        targets = [drift.targets.get(i, Target(t, t)) for i, t in enumerate(types)]
    if forced:
        # The user's word wins over inference and over the baseline's type.
        targets = targets or [Target(t, t) for t in types]
        for i, target in forced.items():
            targets[i] = target
    dropped = [i for i in range(len(original)) if i not in kept]
    stored = [targets[i].served if targets is not None else types[i] for i in kept]
    schema = output_schema(
        [names[i] for i in kept],
        [original[i] for i in kept],
        [arrow_type(t) for t in stored],
        {"processor_version": processor_version()},
    )
    return Layout(names, original, types, kept, dropped, schema, targets, drift, notes)


class RowHasher:
    """Hashes each batch of cleaned rows in a thread of its own: one 64-bit hash per
    row to find duplicates, per-column value hashes for the distinct estimates."""

    def __init__(self, folder: Path, columns: int) -> None:
        self.hashes = dedup.HashSpill(folder)
        self.distinct = [DistinctEstimate() for _ in range(columns)]
        self._worker: Consumer[list[pa.Array]] = Consumer(self._hash, name="row-hash")

    def _hash(self, columns: list[pa.Array]) -> None:
        if columns and len(columns[0]):
            self.hashes.add(row_hashes(columns, self.distinct))

    def put(self, columns: list[pa.Array]) -> None:
        self._worker.put(columns)

    def close(self) -> None:
        self._worker.close()

    def abandon(self) -> None:
        self._worker.abandon()
        self.hashes.close()


# --- pass 2: deduplicate, convert and write -------------------------------------------


@dataclass
class Written:
    rows_out: int = 0
    duplicates: int = 0  # exact duplicate rows found
    duplicates_removed: int = 0  # and removed (the dedupe option)
    # The first duplicates: {"line", "duplicate_of", "text"}.
    duplicate_sample: list[dict[str, Any]] = field(default_factory=list)
    collisions: int = 0
    groups_spilled: int = 0
    parquet_bytes: int = 0
    row_groups: int = 0
    summary: TableSummary | None = None
    dictionary: list[str] = field(default_factory=list)
    distinct: list[int] = field(default_factory=list)
    # Nulls per kept column of the file, before a transform (the drift comparison's).
    input_nulls: list[int] = field(default_factory=list)
    transform: Applied | None = None


def write_pass(
    scan: Scan,
    layout: Layout,
    plan: dedup.Plan,
    path: Path,
    options: ProcessOptions,
    contract: ContractRejects | None = None,
) -> Written:
    distinct = [scan.distinct[i].estimate() for i in layout.kept]
    schema = layout.output
    transform: BatchTransform | None = None
    if layout.served is not None:
        assert options.transform is not None and scan.lines is not None
        transform = BatchTransform(options.transform, layout.schema, schema)
        distinct = served_distinct(layout, distinct)
    summary = TableSummary(len(schema), distinct)
    dictionary = dictionary_columns(schema, distinct, options.row_group_rows)
    sink = ParquetSink(path, schema, options.row_group_rows, dictionary)
    deduper = dedup.Deduper(plan, options.dedup_memory_bytes)
    kept_types = [layout.types[i] for i in layout.kept]
    targets = [layout.targets[i] for i in layout.kept] if layout.targets is not None else None
    pinned = PinnedRows(scan, layout, contract) if contract is not None else None
    input_nulls = [0] * len(layout.kept)
    # With a transform: each row's line (for its messages) and distinct counts of what
    # it returns, which the file's own estimates cannot tell.
    lines = scan.lines.open("rb") if transform is not None and scan.lines is not None else None
    estimates = [DistinctEstimate() for _ in schema] if transform is not None else []
    try:
        with Producer(lambda: read_spill(scan.spill), depth=2, name="spill-read") as batches:
            for batch in batches:
                keep = deduper.keep_mask(batch.columns)
                if not options.dedupe:
                    keep = None  # counted and reported, kept
                values = [batch.column(i) for i in layout.kept]
                if targets is None:
                    columns = list(COLUMNS.map(convert, values, kept_types))
                else:
                    results = list(COLUMNS.map(_convert_target, values, targets))
                    columns = [typed for typed, _ in results]
                    if pinned is not None:
                        keep = pinned.reject(batch, [bad for _, bad in results], keep)
                typed = pa.RecordBatch.from_arrays(columns, schema=layout.schema)
                if keep is not None:
                    # Typed values are smaller than their text: filter after converting.
                    typed = typed.filter(pa.array(keep))
                for k, values in enumerate(typed.columns):
                    input_nulls[k] += values.null_count
                if transform is not None and lines is not None:
                    at = np.frombuffer(lines.read(8 * batch.num_rows), dtype=np.int64)
                    typed = transform(typed, at if keep is None else at[keep])
                    list(COLUMNS.map(_estimate, estimates, typed.columns))
                summary.add(typed.columns, COLUMNS)
                sink.write(typed)
        parquet_bytes = sink.commit()
    except BaseException:
        sink.abort()
        raise
    finally:
        deduper.close()
        if pinned is not None:
            pinned.close()
        if lines is not None:
            lines.close()
    if transform is not None:
        distinct = [e.estimate() for e in estimates]
    written = Written(
        rows_out=sink.rows,
        duplicates=deduper.duplicates,
        duplicates_removed=deduper.duplicates if options.dedupe else 0,
        duplicate_sample=duplicate_sample(scan, deduper.sample, layout),
        collisions=deduper.collisions,
        groups_spilled=deduper.spilled_groups,
        parquet_bytes=parquet_bytes,
        row_groups=sink.row_groups,
        summary=summary,
        dictionary=dictionary,
        distinct=distinct,
        input_nulls=input_nulls,
        transform=transform.applied if transform is not None else None,
    )
    removed = written.duplicates_removed
    if transform is not None:
        removed += transform.applied.rows_in - transform.applied.rows_out
    expected = scan.spilled_rows - removed - (contract.count if contract else 0)
    if written.rows_out != expected:
        raise RuntimeError(f"row accounting is off: wrote {written.rows_out}, expected {expected}")
    return written


def served_distinct(layout: Layout, distinct: list[int]) -> list[int]:
    """Distinct estimates of the served columns known before the write: the file's for
    a column the transform keeps as it is, 0 (dictionary pages) for one it makes."""
    own = {layout.names[i]: distinct[p] for p, i in enumerate(layout.kept)}
    known = {f.name: f.type for f in layout.schema}
    return [own.get(f.name, 0) if known.get(f.name) == f.type else 0 for f in layout.output]


def _estimate(estimate: DistinctEstimate, values: pa.Array) -> None:
    if not len(values):
        return
    text = values if pa.types.is_string(values.type) else values.cast(pa.string())
    valid = None
    if text.null_count:
        valid = np.asarray(text.is_valid().to_numpy(zero_copy_only=False), dtype=np.bool_)
    estimate.add(value_hashes(text), valid)


def duplicate_sample(
    scan: Scan, sample: list[tuple[int, int | None, list[str | None]]], layout: Layout
) -> list[dict[str, Any]]:
    """The first duplicates with their lines, the line each repeats and their text."""
    if not sample or scan.lines is None:
        return []
    out = []
    with scan.lines.open("rb") as fh:

        def line_of(row: int | None) -> int | None:
            if row is None:
                return None
            fh.seek(8 * row)
            got = fh.read(8)
            return int.from_bytes(got, "little", signed=True) if len(got) == 8 else None

        for row, first, values in sample:
            text = ", ".join(
                f"{layout.names[i]}={values[i]!r}" for i in layout.kept if i < len(values)
            )
            out.append({"line": line_of(row), "duplicate_of": line_of(first), "text": text[:200]})
    return out


def publish_rejects(scan: Scan, out_dir: Path) -> None:
    target = out_dir / REJECTS_FILE
    if scan.rejects.count:
        os.replace(scan.rejects.path, target)
    else:
        # A rerun into the same folder must not leave an earlier run's rejects behind.
        target.unlink(missing_ok=True)


# --- values pinned to the baseline's types --------------------------------------------------


def _convert_target(values: pa.Array, target: Target) -> tuple[pa.Array, np.ndarray | None]:
    return convert_to(values, target.parse, arrow_type(target.served), target.checked)


def write_checked(
    scan: Scan,
    layout: Layout,
    plan: dedup.Plan,
    out_dir: Path,
    options: ProcessOptions,
    contract: ContractRejects,
) -> Written:
    """The write pass when values pinned to the baseline's types may not fit: their rows
    are rejected, and the data is published only if those rejects stay within the limit
    (MINI_MAX_REJECT_RATIO), which then fails the file as other rejects do."""
    unchecked = out_dir / UNCHECKED_DATA_FILE
    try:
        written = write_pass(scan, layout, plan, unchecked, options, contract)
        scan.rejects.merge(contract)
        try:
            check_rejects(scan, options)
        except BadInput:
            publish_rejects(scan, out_dir)
            raise
        os.replace(unchecked, out_dir / DATA_FILE)
    finally:
        contract.close()
        unchecked.unlink(missing_ok=True)
    return written


class PinnedRows:
    """Rejects the rows of each converted batch with values that do not fit the type
    their column keeps from the baseline, at their physical lines (noted in pass 1)."""

    def __init__(self, scan: Scan, layout: Layout, contract: ContractRejects) -> None:
        assert scan.lines is not None and layout.targets is not None
        self._lines = scan.lines.open("rb")
        self._contract = contract
        drift = layout.drift
        self._version = drift.baseline.version if drift is not None else 0
        before = {c.name: c.type for c in drift.baseline.columns} if drift is not None else {}
        self._columns: list[tuple[str, str, int]] = []
        for i in layout.kept:
            name = layout.names[i]
            target = layout.targets[i]
            served = target.served.kind
            if target.how == "forced":
                phrase = f"{a_type(served)} as the types option asks ({name}:{served})"
            else:
                phrase = self._phrase(served, before[name]) if name in before else ""
            self._columns.append((name, phrase, i))

    def _phrase(self, served: str, before: str) -> str:
        """ "a float as in version 1", or "a float (version 1's int, widened)"."""
        version = self._version
        if served == before:
            return f"{a_type(served)} as in version {version}"
        return f"{a_type(served)} (version {version}'s {before}, widened)"

    def reject(
        self, batch: pa.RecordBatch, misfits: list[np.ndarray | None], keep: np.ndarray | None
    ) -> np.ndarray | None:
        """Reject the rows with misfits (duplicates aside); the new keep mask."""
        lines = np.frombuffer(self._lines.read(8 * batch.num_rows), dtype=np.int64)
        if len(lines) != batch.num_rows:
            raise RuntimeError("the line numbers noted in pass 1 do not match the spilled rows")
        found = [(k, bad) for k, bad in enumerate(misfits) if bad is not None]
        if not found:
            return keep
        any_bad = np.zeros(batch.num_rows, dtype=bool)
        for _, bad in found:
            any_bad |= bad
        rows = np.flatnonzero(any_bad if keep is None else any_bad & keep)
        if len(rows):
            self._write(batch, found, rows, lines)
        return (keep if keep is not None else np.ones(batch.num_rows, dtype=bool)) & ~any_bad

    def _write(
        self,
        batch: pa.RecordBatch,
        found: list[tuple[int, np.ndarray]],
        rows: np.ndarray,
        lines: np.ndarray,
    ) -> None:
        take = pa.array(rows)
        fields = list(zip(*(col.take(take).to_pylist() for col in batch.columns), strict=True))
        for n, row in enumerate(rows.tolist()):
            misfit = []
            for k, bad in found:
                if bad[row]:
                    name, phrase, i = self._columns[k]
                    misfit.append((name, phrase, fields[n][i]))
            name, phrase, value = misfit[0]
            detail = "; ".join(f"column {c!r}: {v!r} is not {p}" for c, p, v in misfit)
            if "types option" not in phrase:
                detail += " (on_schema_change=pin keeps the served types)"
            self._contract.add(
                int(lines[row]),
                f"{value!r} is not {phrase}",
                f"column {name!r} is not {phrase}",
                detail,
                [c for c, _, _ in misfit],
                self._contract.raw(fields[n]),
            )

    def close(self) -> None:
        self._lines.close()
