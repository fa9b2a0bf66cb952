"""CSV → Parquet in two streaming passes: detect, infer types, convert and write."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from time import perf_counter
from typing import Any, BinaryIO, TypeVar

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .cleaning import (
    all_null_rows,
    count_changed_lengths,
    line_breaks_per_row,
    nullify,
    token_set,
    trim,
)
from .convert import arrow_type, convert
from .dedup import DedupIndex, hash_rows
from .dialect import Dialect, detect_dialect
from .encoding import EncodingInfo, decode_error, detect_encoding
from .errors import BadInput
from .headers import normalise_headers
from .infer import ColumnStats, ColumnType, accumulate, decide_type
from .options import MIB, ProcessOptions
from .reader import BlockTooSmall, LineResolver, MalformedLog, read_batches
from .strbuf import lengths
from .version import processor_version
from .writer import ParquetSink, output_schema, write_json_atomic

DATA_FILE = "data.parquet"
REPORT_FILE = "report.json"
OpenInput = Callable[[], BinaryIO]
T = TypeVar("T")


def process_csv(
    open_input: OpenInput,
    out_dir: Path,
    options: ProcessOptions = ProcessOptions(),  # noqa: B008 - frozen, safe to share
) -> dict[str, Any]:
    """Read the CSV (``open_input()`` may be called several times; each call returns a
    fresh binary stream from the start, never seeked), write ``out_dir/data.parquet``
    and then ``out_dir/report.json``, and return the report.

    Raises BadInput for files that cannot be processed; anything else is a bug.
    """
    started = perf_counter()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    encoding, dialect = detect(open_input, options)
    original_names = list(dialect.header)
    names = normalise_headers(original_names)
    detected = perf_counter()

    inference = infer_types(open_input, encoding, dialect, options)
    check_malformed_share(inference, options)
    types = [decide_type(s, decimal_comma_hint=dialect.delimiter == ";") for s in inference.stats]
    inferred = perf_counter()

    version = processor_version()
    schema = output_schema(
        names,
        original_names,
        [arrow_type(t) for t in types],
        {"processor_version": version},
    )
    written = write_parquet(
        open_input, encoding, dialect, types, schema, inference, out_dir / DATA_FILE, options
    )
    finished = perf_counter()

    report = build_report(
        encoding=encoding,
        dialect=dialect,
        names=names,
        original_names=original_names,
        types=types,
        inference=inference,
        written=written,
        version=version,
        durations={
            "detect": detected - started,
            "infer": inferred - detected,
            "write": finished - inferred,
            "total": finished - started,
        },
    )
    write_json_atomic(out_dir / REPORT_FILE, report)
    return report


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
    dialect = detect_dialect(
        text,
        truncated=not at_eof,
        delimiter=options.delimiter,
        header_row=options.header_row,
        no_header=options.no_header,
        null_tokens=frozenset(options.null_tokens),
    )
    return encoding, dialect


# --- pass 1: types ------------------------------------------------------------------


@dataclass
class Inference:
    stats: list[ColumnStats]
    malformed: MalformedLog
    rows_read: int  # rows pyarrow returned (valid rows, blank lines included)
    block_size: int

    @property
    def rows_in(self) -> int:
        return self.rows_read + self.malformed.count + self.malformed.blank


def rows_before_data(dialect: Dialect) -> int:
    return dialect.skip_lines + (1 if dialect.has_header else 0)


def new_log(dialect: Dialect, options: ProcessOptions) -> MalformedLog:
    return MalformedLog(
        options.max_reported_malformed, rows_before_data(dialect), dialect.header_line_breaks
    )


def with_growing_blocks(
    options: ProcessOptions, run: Callable[[int], T], rows_so_far: Callable[[], int]
) -> T:
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
                    f"a row after data row {rows_so_far()} is larger than {limit // MIB} MiB: "
                    f"a quoted field is probably never closed"
                ) from None
            block = min(block * 4, limit)


def check_field_size(values: pa.Array, limit: int, column: str, rows_before: int) -> None:
    sizes = lengths(values)
    if not sizes.size or int(sizes.max()) <= limit:
        return
    longest = int(sizes.argmax())
    value = values[longest].as_py() or ""
    hint = ""
    if value.count("\n") + value.count("\r") > 1:
        hint = "; it spans many lines, so a quoted field is probably never closed"
    raise BadInput(
        f"column {column!r} has a value of {len(value.encode())} bytes in data row "
        f"{rows_before + longest + 1}; the limit is {limit} bytes{hint}"
    )


def infer_types(
    open_input: OpenInput, encoding: EncodingInfo, dialect: Dialect, options: ProcessOptions
) -> Inference:
    tokens = token_set(options.null_tokens)
    progress = {"rows": 0}

    def run(block_size: int) -> Inference:
        log = new_log(dialect, options)
        stats = [ColumnStats() for _ in dialect.header]
        progress["rows"] = 0
        with read_batches(open_input, encoding, dialect, block_size, log) as batches:
            for batch in batches:
                for i, raw in enumerate(batch.columns):
                    check_field_size(
                        raw,
                        options.max_field_bytes,
                        dialect.header[i] or f"#{i + 1}",
                        progress["rows"],
                    )
                    accumulate(stats[i], nullify(trim(raw), tokens))
                progress["rows"] += batch.num_rows
        return Inference(stats, log, progress["rows"], block_size)

    return with_growing_blocks(options, run, lambda: progress["rows"])


def check_malformed_share(inference: Inference, options: ProcessOptions) -> None:
    log = inference.malformed
    if log.count == 0 or log.count <= options.max_malformed_fraction * inference.rows_in:
        return
    first = log.rows[0] if log.rows else None
    example = ""
    if first is not None:
        example = (
            f"; e.g. near line {log.approximate_line(first.number)}: expected "
            f"{first.expected} fields, found {first.found}"
        )
    raise BadInput(
        f"{log.count} of {inference.rows_in} rows "
        f"({100 * log.count / max(inference.rows_in, 1):.0f}%) have the wrong number of "
        f"fields, more than the {100 * options.max_malformed_fraction:.0f}% allowed{example}"
    )


# --- pass 2: convert and write -------------------------------------------------------


@dataclass
class Written:
    malformed: MalformedLog
    rows_in: int = 0
    rows_out: int = 0
    values_trimmed: int = 0
    values_nulled: int = 0
    empty_rows: int = 0
    duplicates: int = 0
    dedup_complete: bool = True
    null_counts: list[int] = field(default_factory=list)
    parquet_bytes: int = 0
    row_groups: int = 0


def write_parquet(
    open_input: OpenInput,
    encoding: EncodingInfo,
    dialect: Dialect,
    types: Sequence[ColumnType],
    schema: pa.Schema,
    inference: Inference,
    path: Path,
    options: ProcessOptions,
) -> Written:
    tokens = token_set(options.null_tokens)
    log = new_log(dialect, options)
    # Exact line numbers cost a scan of every value, so only files with bad rows pay it.
    lines = LineResolver(log, dialect.header_line_breaks) if inference.malformed.count else None
    dedup = DedupIndex(options.max_dedup_rows)
    out = Written(log, null_counts=[0] * len(types))
    sink = ParquetSink(path, schema, options.row_group_rows)
    try:
        with read_batches(open_input, encoding, dialect, inference.block_size, log) as batches:
            for batch in batches:
                out.rows_in += batch.num_rows
                raw = batch.columns
                if lines is not None:
                    lines.add_batch(line_breaks_per_row(raw))
                cleaned = []
                for values in raw:
                    trimmed = trim(values)
                    out.values_trimmed += count_changed_lengths(values, trimmed)
                    nulled = nullify(trimmed, tokens)
                    out.values_nulled += nulled.null_count - values.null_count
                    cleaned.append(nulled)
                keep = keep_mask(cleaned, dedup, out)
                if keep is not None:
                    mask = pa.array(keep)
                    cleaned = [c.filter(mask) for c in cleaned]
                typed = [convert(c, t) for c, t in zip(cleaned, types, strict=True)]
                for i, col in enumerate(typed):
                    out.null_counts[i] += col.null_count
                sink.write(pa.RecordBatch.from_arrays(typed, schema=schema))
        if lines is not None:
            lines.finish()
        out.parquet_bytes = sink.commit()
    except BaseException:
        sink.abort()
        raise
    out.rows_in += log.count + log.blank
    out.empty_rows += log.blank
    out.row_groups = sink.row_groups
    out.rows_out = sink.rows
    out.dedup_complete = not dedup.saturated
    if out.rows_in != inference.rows_in or log.count != inference.malformed.count:
        raise RuntimeError("the input changed between the two passes")
    expected = out.rows_in - log.count - out.empty_rows - out.duplicates
    if out.rows_out != expected:
        raise RuntimeError(f"row accounting is off: wrote {out.rows_out}, expected {expected}")
    return out


def keep_mask(
    cleaned: list[pa.Array], dedup: DedupIndex, out: Written
) -> npt.NDArray[np.bool_] | None:
    """Rows to keep after dropping empty rows and duplicates; None keeps them all."""
    n = len(cleaned[0]) if cleaned else 0
    empty = all_null_rows(cleaned)
    candidates = np.arange(n)
    if empty is not None:
        empty_np = empty.to_numpy(zero_copy_only=False)
        out.empty_rows += int(empty_np.sum())
        candidates = np.flatnonzero(~empty_np)
    h1, h2 = hash_rows(cleaned)
    first = dedup.first_seen(h1[candidates], h2[candidates])
    out.duplicates += int(len(candidates) - first.sum())
    if len(candidates) == n and first.all():
        return None
    keep = np.zeros(n, dtype=bool)
    keep[candidates[first]] = True
    return keep


# --- report -----------------------------------------------------------------------


def build_report(
    *,
    encoding: EncodingInfo,
    dialect: Dialect,
    names: list[str],
    original_names: list[str],
    types: Sequence[ColumnType],
    inference: Inference,
    written: Written,
    version: str,
    durations: dict[str, float],
) -> dict[str, Any]:
    log = written.malformed
    columns = [
        {
            "name": name,
            "original_name": original,
            "type": str(ctype.kind),
            "format": ctype.label or None,
            "null_count": nulls,
        }
        for name, original, ctype, nulls in zip(
            names, original_names, types, written.null_counts, strict=True
        )
    ]
    return {
        "processor_version": version,
        "pyarrow_version": pa.__version__,
        "source": {
            "encoding": encoding.encoding,
            "bom": encoding.bom,
            "encoding_detected_by": encoding.detected_by,
            "delimiter": dialect.delimiter,
            "line_endings": dialect.line_endings,
            "header": {
                "present": dialect.has_header,
                "detected": dialect.header_detected,
                "line": dialect.skip_lines + 1 if dialect.has_header else None,
            },
            "lines_skipped_before_header": dialect.skip_lines,
        },
        "columns": columns,
        "rows_in": written.rows_in,
        "rows_out": written.rows_out,
        "rows_malformed": log.count,
        "duplicates_removed": written.duplicates,
        "empty_rows_removed": written.empty_rows,
        "steps": {
            "read": {"rows": written.rows_in, "read_block_bytes": inference.block_size},
            "malformed_rows": {"rows_removed": log.count},
            "trim": {"values_changed": written.values_trimmed},
            "null_tokens": {"values_nulled": written.values_nulled},
            "empty_rows": {"rows_removed": written.empty_rows},
            "deduplicate": {
                "rows_removed": written.duplicates,
                "complete": written.dedup_complete,
            },
            "write": {
                "rows": written.rows_out,
                "row_groups": written.row_groups,
                "bytes": written.parquet_bytes,
            },
        },
        "malformed_rows": [row.as_dict() for row in log.rows],
        "warnings": warnings(encoding, dialect, written),
        "malformed_rows_truncated": log.count > len(log.rows),
        "output": {"data": DATA_FILE, "bytes": written.parquet_bytes},
        "durations_s": {k: round(v, 4) for k, v in durations.items()},
    }


def warnings(encoding: EncodingInfo, dialect: Dialect, written: Written) -> list[str]:
    """Things a person should double-check, in plain words."""
    out: list[str] = []
    if encoding.detected_by == "charset-normalizer":
        out.append(f"the file is not UTF-8; it was read as {encoding.encoding} (a guess)")
    if dialect.title_rows:
        out.append(
            f"skipped {dialect.skip_lines} line(s) above the header that look like titles or notes"
        )
    log = written.malformed
    if log.count:
        out.append(f"{log.count} row(s) with the wrong number of fields were left out")
    if not written.dedup_complete:
        out.append(
            "the file has too many distinct rows to check all of them for duplicates; "
            "some duplicates may remain"
        )
    return out
