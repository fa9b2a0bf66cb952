"""Streaming CSV reader: pyarrow batches of raw string columns, plus malformed rows.

pyarrow parses with ``use_threads=False``: on string-only columns it is faster than the
threaded reader here, and it is the only mode that reports row numbers for malformed
rows. Rows with the wrong number of fields go to :class:`MalformedLog` (never padded or
shifted). Blank lines are kept as all-null rows so that pyarrow's row numbers count
them; the caller drops empty rows later.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.csv as pcsv

from .dialect import Dialect
from .encoding import EncodingInfo, Utf8Stream
from .errors import BadInput

_TEXT_PREVIEW = 200


def count_line_breaks(text: str) -> int:
    """CRLF, CR and LF each count once (str.count, not a regex: texts can be huge)."""
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class BlockTooSmall(Exception):
    """A row does not fit in one read block; retry the pass with bigger blocks."""


@dataclass
class MalformedRow:
    number: int | None  # pyarrow's row number: records, not lines
    skipped_before: int  # rows pyarrow skipped before this one (malformed or blank)
    expected: int
    found: int
    text: str
    breaks_before: int  # line breaks inside earlier malformed rows
    line: int | None = None  # physical line, once resolved

    def as_dict(self) -> dict[str, Any]:
        return {
            "line": self.line,
            "expected_fields": self.expected,
            "found_fields": self.found,
            "reason": f"expected {self.expected} fields, found {self.found}",
            "text": self.text,
        }


class MalformedLog:
    """pyarrow ``invalid_row_handler``: counts and keeps the first rows, always skips.

    pyarrow swallows exceptions raised here, so a fatal problem is stored in ``fatal``
    for the caller to raise after the batch.
    """

    def __init__(self, limit: int, rows_before_data: int, header_breaks: int) -> None:
        self.count = 0
        self.blank = 0
        self.rows: list[MalformedRow] = []
        self.fatal: BadInput | None = None
        self._limit = limit
        self._rows_before_data = rows_before_data
        self._header_breaks = header_breaks
        self._breaks = 0

    def __call__(self, row: Any) -> str:
        text: str = row.text
        if not text.strip():
            # A whitespace-only line is a blank line that pyarrow read as one field.
            self.blank += 1
            return "skip"
        self.count += 1
        breaks = count_line_breaks(text)
        if breaks and text.count('"') % 2 == 1 and self.fatal is None:
            self.fatal = BadInput(
                f"near line {self.approximate_line(row.number)}: a quoted field is never "
                f"closed, so the rest of the file would be read as one value"
            )
        if len(self.rows) < self._limit:
            self.rows.append(
                MalformedRow(
                    number=row.number,
                    skipped_before=self.count - 1 + self.blank,
                    expected=row.expected_columns,
                    found=row.actual_columns,
                    text=text[:_TEXT_PREVIEW],
                    breaks_before=self._breaks,
                )
            )
        self._breaks += breaks
        return "skip"

    def approximate_line(self, number: int | None) -> int | str:
        """Line of a record, ignoring quoted line breaks above it (pass 1 only)."""
        return "?" if number is None else number + self._header_breaks

    def valid_rows_before(self, row: MalformedRow) -> int | None:
        if row.number is None:
            return None
        # Empty lines are valid (all-null) rows and whitespace-only ones are skipped
        # here, so record numbers map one to one onto valid + skipped rows.
        return row.number - self._rows_before_data - 1 - row.skipped_before


class LineResolver:
    """Turns pyarrow record numbers into physical line numbers.

    A malformed row's line is its record number plus every line break inside quoted
    values above it. Those are counted per valid row in each batch; pyarrow calls the
    row handler before it hands out the batch the row was cut from, so by the time a
    batch is processed the malformed rows that follow its valid rows are known.
    """

    def __init__(self, log: MalformedLog, header_breaks: int) -> None:
        self._log = log
        self._header_breaks = header_breaks
        self._valid = 0
        self._breaks = 0
        self._next = 0

    def add_batch(self, breaks_per_row: npt.NDArray[np.int64]) -> None:
        cumulative = np.concatenate(([0], np.cumsum(breaks_per_row)))
        end = self._valid + len(breaks_per_row)
        rows = self._log.rows
        while self._next < len(rows):
            row = rows[self._next]
            before = self._log.valid_rows_before(row)
            if before is not None and before > end:
                break
            inside = 0 if before is None else int(cumulative[max(0, before - self._valid)])
            self._resolve(row, self._breaks + inside)
            self._next += 1
        self._valid = end
        self._breaks += int(cumulative[-1])

    def finish(self) -> None:
        for row in self._log.rows[self._next :]:
            self._resolve(row, self._breaks)
        self._next = len(self._log.rows)

    def _resolve(self, row: MalformedRow, breaks_in_valid: int) -> None:
        if row.number is not None:
            row.line = row.number + self._header_breaks + breaks_in_valid + row.breaks_before


def internal_names(count: int) -> list[str]:
    # Header cells may repeat or be blank; pyarrow needs unique names, users never see these.
    return [f"c{i}" for i in range(count)]


@contextmanager
def read_batches(
    open_input: Callable[[], BinaryIO],
    encoding: EncodingInfo,
    dialect: Dialect,
    block_size: int,
    handler: MalformedLog,
) -> Iterator[Iterator[pa.RecordBatch]]:
    """Batches of all-string columns named ``c0..cN``; the input is closed on exit."""
    names = internal_names(len(dialect.header))
    stream = Utf8Stream(open_input(), encoding)
    try:
        try:
            reader = _open(stream, names, dialect, block_size, handler)
        except pa.ArrowInvalid as exc:
            raise _translate(exc) from exc
        yield _guarded(reader, handler)
    finally:
        stream.close()


def _open(
    stream: Utf8Stream, names: list[str], dialect: Dialect, block_size: int, handler: MalformedLog
) -> Any:
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
            quote_char='"',
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
            # Utf8Stream has validated every byte already.
            check_utf8=False,
        ),
    )


def _guarded(reader: Any, handler: MalformedLog) -> Iterator[pa.RecordBatch]:
    while True:
        try:
            batch = reader.read_next_batch()
        except StopIteration:
            break
        except pa.ArrowInvalid as exc:
            raise _translate(exc) from exc
        if handler.fatal is not None:
            raise handler.fatal
        yield batch
    if handler.fatal is not None:
        raise handler.fatal


def _translate(exc: Exception) -> Exception:
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
