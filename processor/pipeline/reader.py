"""Streaming CSV reader: pyarrow batches of raw string columns, plus rejected rows.

pyarrow parses with ``use_threads=False``: on string-only columns it is faster than the
threaded reader here, and it is the only mode that reports row numbers for rejected
rows. Rows with the wrong number of fields, and a last row whose quote is never
closed, are handed to a :class:`RejectSink` with their physical line number and raw
text (never padded or shifted). Blank lines are kept as all-null rows so that
pyarrow's row numbers count them; the caller drops empty rows later.

:func:`parse` is a generator meant to run in its own thread (stage.Producer): the
parser, the source read and the line bookkeeping then overlap with the cleaning.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Protocol

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pcsv

from . import _native
from .aligned import AlignedLines
from .dialect import Dialect
from .encoding import EncodingInfo, RawDigest, Utf8Stream
from .errors import UNTERMINATED, WRONG_FIELDS, BadInput
from .spacing import SpaceBeforeQuote
from .strbuf import string_buffers, value_bytes
from .whitespace import RuleLines, WhitespaceFields

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def count_line_breaks(text: str) -> int:
    """CRLF, CR and LF each count once (str.count, not a regex: texts can be huge)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class BlockTooSmall(Exception):
    """A row does not fit in one read block; retry the pass with bigger blocks."""


@dataclass
class Reject:
    """One rejected record: its first physical line, why, and its raw text."""

    reason: str
    detail: str
    text: str
    expected: int
    found: int
    number: int | None = None  # pyarrow's record number, before line resolution
    skipped_before: int = 0  # rejected or blank records pyarrow skipped before this one
    breaks_before: int = 0  # line breaks inside earlier rejected records
    line: int | None = None
    blank: bool = False  # a whitespace-only line: skipped, not a reject

    @property
    def lines(self) -> int:
        return 1 + count_line_breaks(self.text.rstrip("\r\n"))

    def as_dict(self, preview: int | None = None) -> dict[str, Any]:
        text = self.text if preview is None else self.text[:preview]
        return {
            "line": self.line,
            "reason": self.reason,
            "detail": self.detail,
            "expected_fields": self.expected,
            "found_fields": self.found,
            "text": text,
        }


class RejectSink(Protocol):
    def add(self, reject: Reject) -> None: ...


class RejectLog:
    """pyarrow ``invalid_row_handler``: classifies each bad row, always skips it.

    Rows wait in ``pending`` until :class:`LineResolver` knows their line, then go to
    the sink in file order. pyarrow swallows exceptions raised here, so nothing in
    this handler may fail.
    """

    def __init__(self, rows_before_data: int, header_breaks: int, quote: str) -> None:
        self.count = 0
        self.blank = 0
        self.pending: list[Reject] = []
        self._rows_before_data = rows_before_data
        self._header_breaks = header_breaks
        self._quote = quote
        self.breaks = 0  # line breaks inside every rejected record so far

    def __call__(self, row: Any) -> str:
        text: str = row.text
        if not text.strip():
            # A whitespace-only line is a blank line that pyarrow read as one field.
            # It still waits for resolution, so that later line numbers count it.
            self.blank += 1
            self.pending.append(
                Reject(
                    "",
                    "",
                    text,
                    0,
                    0,
                    number=row.number,
                    skipped_before=self.count + self.blank - 1,
                    breaks_before=self.breaks,
                    blank=True,
                )
            )
            self.breaks += count_line_breaks(text)
            return "skip"
        self.count += 1
        breaks = count_line_breaks(text.rstrip("\r\n"))
        expected, found = row.expected_columns, row.actual_columns
        if breaks and self._quote and text.count(self._quote) % 2 == 1:
            reason = UNTERMINATED
            detail = (
                f"a quoted field that starts on this line is never closed; the "
                f"{breaks} line(s) after it were read into it"
            )
        else:
            reason = WRONG_FIELDS
            detail = f"expected {expected} fields, found {found}"
        self.pending.append(
            Reject(
                reason,
                detail,
                text,
                expected,
                found,
                number=row.number,
                skipped_before=self.count - 1 + self.blank,
                breaks_before=self.breaks,
            )
        )
        self.breaks += count_line_breaks(text)
        return "skip"

    def valid_rows_before(self, reject: Reject) -> int | None:
        if reject.number is None:
            return None
        # Empty lines are valid (all-null) rows and whitespace-only ones are skipped
        # here, so record numbers map one to one onto valid + skipped rows.
        return reject.number - self._rows_before_data - 1 - reject.skipped_before


@dataclass
class BatchLines:
    """Physical line numbers of a batch's rows, worked out only when asked for."""

    first_line: int  # of row 0, counting every record and quoted line break above it
    inserts: list[tuple[int, int]]  # (row index, lines): skipped records inside the batch
    columns: list[pa.Array]  # the raw values, for line breaks inside them
    breaks: int | None = None  # line breaks inside them all, when counted
    row_breaks: npt.NDArray[np.int64] | None = None  # per row, once worked out

    def per_row(self) -> npt.NDArray[np.int64]:
        """Line breaks inside each row's values (worked out once per batch)."""
        if self.row_breaks is None:
            num_rows = len(self.columns[0]) if self.columns else 0
            if self.breaks == 0:
                self.row_breaks = np.zeros(num_rows, dtype=np.int64)
            else:
                self.row_breaks = line_breaks_per_row(self.columns, num_rows)
        return self.row_breaks

    def last_line_of(self, row: int) -> int:
        """The line a row ends on (rows can span lines inside quotes)."""
        inside = int(self.per_row()[row])
        return self.lines_of([row])[0] + inside

    def lines_of(self, rows: list[int]) -> list[int]:
        if not rows:
            return []
        breaks = np.concatenate(([0], np.cumsum(self.per_row())))
        out = []
        for i in rows:
            skipped = sum(lines for at, lines in self.inserts if at <= i)
            out.append(self.first_line + i + int(breaks[i]) + skipped)
        return out

    def all_lines(self, kept_rows: npt.NDArray[np.intp] | None = None) -> npt.NDArray[np.int64]:
        """``lines_of`` every row (or the rows ``kept_rows`` lists), in whole-array steps."""
        num_rows = len(self.columns[0]) if self.columns else 0
        lines = self.first_line + np.arange(num_rows, dtype=np.int64)
        if self.breaks != 0:
            inside = self.per_row()
            lines += np.cumsum(inside) - inside
        for at, count in self.inserts:
            lines[at:] += count
        return lines if kept_rows is None else lines[kept_rows]


class LineResolver:
    """Turns pyarrow record numbers into physical line numbers.

    A skipped row's line is its record number plus every line break inside quoted
    values above it. Those are counted per valid row in each batch; pyarrow calls the
    row handler before it hands out the batch the row was cut from, so by the time a
    batch is processed the skipped rows that follow its valid rows are known.
    """

    def __init__(self, log: RejectLog, dialect: Dialect, sink: RejectSink) -> None:
        self._log = log
        self._header_breaks = dialect.header_line_breaks
        header_lines = 1 + dialect.header_line_breaks if dialect.has_header else 0
        self.first_data_line = dialect.skip_lines + header_lines + 1
        self._sink = sink
        self.valid = 0
        self.breaks = 0  # line breaks inside valid values so far
        self.skipped_lines = 0  # lines taken by skipped records resolved so far

    def add_batch(self, columns: list[pa.Array], num_rows: int) -> BatchLines:
        start, end = self.valid, self.valid + num_rows
        lines = BatchLines(
            self.first_data_line + self.valid + self.breaks + self.skipped_lines, [], columns
        )
        pending = self._log.pending
        resolved = 0
        cumulative: npt.NDArray[np.int64] | None = None
        for reject in pending:
            before = self._log.valid_rows_before(reject)
            if before is not None and before > end:
                break
            if cumulative is None:
                per_row = line_breaks_per_row(columns, num_rows)
                cumulative = np.concatenate(([0], np.cumsum(per_row)))
            inside = 0 if before is None else int(cumulative[max(0, before - start)])
            if before is not None and before > start:
                lines.inserts.append((before - start, reject.lines))
            self._resolve(reject, self.breaks + inside)
            resolved += 1
        del pending[:resolved]
        self.valid = end
        if cumulative is not None:
            lines.breaks = int(cumulative[-1])
        else:
            lines.breaks = total_line_breaks(columns)
        self.breaks += lines.breaks
        return lines

    def finish(self) -> None:
        for reject in self._log.pending:
            self._resolve(reject, self.breaks)
        self._log.pending.clear()

    def _resolve(self, reject: Reject, breaks_in_valid: int) -> None:
        self.skipped_lines += reject.lines
        if reject.number is not None:
            reject.line = (
                reject.number + self._header_breaks + breaks_in_valid + reject.breaks_before
            )
        if not reject.blank:
            self._sink.add(reject)


def total_line_breaks(columns: list[pa.Array]) -> int:
    """Line breaks inside all values (CRLF counts once); null slots hold no bytes."""
    total = 0
    for col in columns:
        data = value_bytes(col)
        if data.size:
            total += _native.count_line_breaks(data)
    return total


def line_breaks_per_row(columns: list[pa.Array], num_rows: int) -> npt.NDArray[np.int64]:
    """Line breaks (CRLF, CR or LF) inside the raw values of each row."""
    total = np.zeros(num_rows, dtype=np.int64)
    for col in columns:
        raw = value_bytes(col)
        if not raw.size or not _native.count_line_breaks(raw):
            continue  # one compiled pass instead of the whole-array ones below
        offsets, data = string_buffers(col)
        is_break = (data == 10) | (data == 13)
        if not is_break.any():
            continue
        # A CR directly followed by LF is one break: count the LF only.
        crlf = np.zeros(data.size, dtype=bool)
        crlf[:-1] = (data[:-1] == 13) & (data[1:] == 10)
        is_break &= ~crlf
        cumulative = np.concatenate(([0], np.cumsum(is_break, dtype=np.int64)))
        total += cumulative[offsets[1:]] - cumulative[offsets[:-1]]
    return total


def internal_names(count: int) -> list[str]:
    # Header cells may repeat or be blank; pyarrow needs unique names, users never see these.
    return [f"c{i}" for i in range(count)]


def open_reader(stream: Utf8Stream, dialect: Dialect, block_size: int, handler: RejectLog) -> Any:
    names = internal_names(len(dialect.header))
    try:
        return pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(
                use_threads=False,
                block_size=block_size,
                skip_rows=dialect.skip_lines,
                column_names=names,
                skip_rows_after_names=1 if dialect.has_header else 0,
            ),
            parse_options=pcsv.ParseOptions(
                delimiter=dialect.delimiter,
                quote_char=dialect.quote or False,
                double_quote=True,
                escape_char=False,
                newlines_in_values=True,
                ignore_empty_lines=False,
                invalid_row_handler=handler,
            ),
            convert_options=pcsv.ConvertOptions(
                column_types={name: pa.string() for name in names},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                # Utf8Stream (or its RawDigest) checks every byte.
                check_utf8=False,
            ),
        )
    except pa.ArrowInvalid as exc:
        raise translate(exc) from exc


def translate(exc: Exception) -> Exception:
    message = str(exc)
    if "straddling" in message or "straddles" in message:
        return BlockTooSmall(message)
    if "Empty CSV file" in message:
        return BadInput("the file has no rows")
    if "skip" in message and "rows" in message:
        return BadInput("the header row is past the end of the file")
    if message.startswith("CSV parse error"):
        return BadInput(f"the CSV cannot be parsed: {message.split(':', 1)[1].strip()}")
    return exc


@dataclass
class ReadState:
    """What the reading thread learned, read by the caller once the pass ended."""

    rows: int = 0  # valid rows handed out (blank lines included)


def _next_batch(reader: Any) -> pa.RecordBatch | None:
    try:
        batch: pa.RecordBatch = reader.read_next_batch()
    except StopIteration:
        return None
    except pa.ArrowInvalid as exc:
        raise translate(exc) from exc
    return batch


def _concat(batches: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(batches) == 1:
        return batches[0]
    table = pa.Table.from_batches(batches).combine_chunks()
    return table.to_batches()[0]


def parse(
    open_input: Callable[[], BinaryIO],
    encoding: EncodingInfo,
    dialect: Dialect,
    block_size: int,
    batch_bytes: int,
    log: RejectLog,
    sink: RejectSink,
    digest: RawDigest | None,
    state: ReadState,
) -> Iterator[tuple[pa.RecordBatch, BatchLines]]:
    """Raw string batches of about ``batch_bytes`` each, in file order, with the
    line numbers of their rows.

    One batch is held back so the last one can be checked for a quote that is never
    closed before the end of the file (pyarrow accepts that row silently).
    """
    transform: Callable[[str, bool], str] | None = None
    if dialect.aligned:
        transform = AlignedLines(dialect.aligned)
    elif dialect.whitespace:
        transform = WhitespaceFields()
    elif dialect.space_before_quote and dialect.quote:
        transform = SpaceBeforeQuote(dialect.delimiter, dialect.quote)
    elif dialect.rule_lines:
        transform = RuleLines()
    stream = Utf8Stream(open_input(), encoding, digest, transform)
    resolver = LineResolver(log, dialect, sink)

    def counted(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, BatchLines]:
        state.rows += batch.num_rows
        return batch, resolver.add_batch(batch.columns, batch.num_rows)

    try:
        reader = open_reader(stream, dialect, block_size, log)
        group: list[pa.RecordBatch] = []
        size = 0
        held: pa.RecordBatch | None = None
        while True:
            batch = _next_batch(reader)
            if batch is None:
                break
            if batch.num_rows:
                group.append(batch)
                size += batch.nbytes
            if size >= batch_bytes:
                if held is not None:
                    yield counted(held)
                held, group, size = _concat(group), [], 0
        if group:
            if held is not None:
                yield counted(held)
            held = _concat(group)
        if held is not None:
            value = held.column(held.num_columns - 1)[-1].as_py() or ""
            if last_field_unterminated(value, stream.tail, dialect.quote):
                last = held.slice(held.num_rows - 1)
                held = held.slice(0, held.num_rows - 1)
                result = counted(held)
                resolver.finish()
                _reject_last_row(last, stream, log, resolver, sink)
            else:
                result = counted(held)
            if held.num_rows:
                yield result
        resolver.finish()
    finally:
        stream.close()


def _reject_last_row(
    last: pa.RecordBatch,
    stream: Utf8Stream,
    log: RejectLog,
    resolver: LineResolver,
    sink: RejectSink,
) -> None:
    """Reject the file's last row, whose quoted field ran to the end of the file.

    Every record above it is resolved by now, so its line follows from the totals.
    """
    breaks = sum(count_line_breaks(col[0].as_py() or "") for col in last.columns)
    line = resolver.first_data_line + resolver.valid + resolver.breaks + resolver.skipped_lines
    reject = Reject(
        UNTERMINATED,
        f"the quoted field that starts on this line is never closed before the end of "
        f"the file; the {breaks} line(s) after it were read into it",
        last_lines(stream.tail, breaks),
        last.num_columns,
        last.num_columns,
        line=line,
    )
    log.count += 1
    log.breaks += breaks
    resolver.skipped_lines += reject.lines
    sink.add(reject)


def last_lines(tail: bytes, breaks: int) -> str:
    """The text of the last record when its final field ran to the end of the file
    (so the value holds the file's last line break): its ``breaks + 1`` lines."""
    text = tail.decode("utf-8", "replace")
    starts = [0, *(m.end() for m in _LINE_BREAK.finditer(text))]
    if starts[-1] == len(text):
        starts.pop()
    return text[starts[max(0, len(starts) - breaks)] :]


def last_field_unterminated(value: str, tail: bytes, quote: str | None) -> bool:
    """Whether the file's last field opened a quote it never closed.

    pyarrow then takes everything to the end of the file into that value, including
    the final line break, and reports nothing. A value that ends with a line break is
    closed only if the file (minus its final line break) ends with a closing quote:
    an odd run of quote characters, since ``""`` inside quotes is an escaped quote.
    """
    if not quote or not value.endswith(("\n", "\r")):
        return False
    text = tail.decode("utf-8", "replace")
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith(("\n", "\r")):
        text = text[:-1]
    run = len(text) - len(text.rstrip(quote))
    return run % 2 == 0
