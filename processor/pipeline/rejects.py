"""rejects.csv: every rejected row with its line number, the reason and its raw text."""

from __future__ import annotations

import csv
import heapq
import io
import os
import threading
from collections import Counter, deque
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import SUSPECTED_UNTERMINATED, UNTERMINATED, WRONG_FIELDS

if TYPE_CHECKING:
    from .reader import Reject

FILE = "rejects.csv"
COLUMNS = ("line", "reason", "detail", "raw")
SAMPLE = 20
# Reasons whose record took the lines after it: each line counts as a row lost.
_SWALLOWING = (UNTERMINATED, SUSPECTED_UNTERMINATED)
_PREVIEW = 200


class RejectsFile:
    """A RejectSink writing rejected rows in file order, minus notes and comments.

    The most recent rows are held back (up to ``HOLD`` of them): if no data row
    follows them and a blank line separates them from the table, they are notes below
    the table (footnotes, sources), skipped and counted like title rows above it. Rows
    starting with "#" are comments. The file is created on the first real reject.
    """

    HOLD = 1000

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.lines = 0
        # Rows lost: an unterminated quote swallowed every line it spans.
        self.weight = 0
        self.reasons: Counter[str] = Counter()
        self.sample: list[dict[str, Any]] = []
        self.comment_lines = 0
        self.footer_lines = 0
        self.skipped_rows = 0  # records taken for comments or notes
        self.footer_sample: list[str] = []
        self._held: deque[Reject] = deque()
        self._last_written_line = 0  # the line of the last row let out of the hold
        self._fh: TextIO | None = None
        self._writer: Any = None
        # The parser's thread adds rows it skipped, the scan's thread suspected ones.
        self._lock = threading.Lock()

    def add(self, reject: Reject) -> None:
        with self._lock:
            self._add(reject)

    def _add(self, reject: Reject) -> None:
        if reject.reason == WRONG_FIELDS and reject.text.lstrip().startswith("#"):
            self.comment_lines += reject.lines
            self.skipped_rows += 1
            return
        self._held.append(reject)
        if len(self._held) > self.HOLD:
            oldest = self._held.popleft()
            self._last_written_line = max(self._last_written_line, oldest.line or 0)
            self._write(oldest)

    def finish(self, last_data_line: int | None) -> None:
        """Write what is held back; rows below ``last_data_line`` after a gap are notes."""
        footer: list[Reject] = []
        # More rejected rows below the table than are held back are not notes: the
        # rows already let out of the hold lie between the table and the held ones.
        if self._held and last_data_line is not None and self._last_written_line <= last_data_line:
            first_after = next(
                (i for i, r in enumerate(self._held) if (r.line or 0) > last_data_line), None
            )
            if first_after is not None and (self._held[first_after].line or 0) > last_data_line + 1:
                footer = list(self._held)[first_after:]
                for _ in footer:
                    self._held.pop()
        while self._held:
            self._write(self._held.popleft())
        for note in footer:
            self.footer_lines += note.lines
            self.skipped_rows += 1
            if len(self.footer_sample) < SAMPLE:
                self.footer_sample.append(note.text[:_PREVIEW])
        self.close()

    def _write(self, reject: Reject) -> None:
        if self._fh is None:
            self._fh = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh, lineterminator="\n")
            self._writer.writerow(COLUMNS)
        raw = reject.text
        # The line break that ends the record is not part of it.
        if raw.endswith("\r\n"):
            raw = raw[:-2]
        elif raw.endswith(("\n", "\r")):
            raw = raw[:-1]
        self._writer.writerow((reject.line, reject.reason, reject.detail, raw))
        self.count += 1
        self.lines += reject.lines
        self.weight += reject.lines if reject.reason in _SWALLOWING else 1
        self.reasons[reject.reason] += 1
        if len(self.sample) < SAMPLE:
            self.sample.append(reject.as_dict(_PREVIEW))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def merge(self, other: ContractRejects) -> None:
        """Take in the rows pass 2 rejected, keeping the file in line order."""
        other.close()
        if not other.count:
            return
        if not self.count:
            os.replace(other.path, self.path)
        else:
            merged = self.path.with_name(f".{self.path.name}.merged")
            with (
                self.path.open(encoding="utf-8", newline="") as mine,
                other.path.open(encoding="utf-8", newline="") as theirs,
                merged.open("w", encoding="utf-8", newline="") as out,
            ):
                writer = csv.writer(out, lineterminator="\n")
                writer.writerow(COLUMNS)
                first, second = csv.reader(mine), csv.reader(theirs)
                next(first, None)
                next(second, None)
                writer.writerows(heapq.merge(first, second, key=_csv_line))
            os.replace(merged, self.path)
            other.path.unlink(missing_ok=True)
        self.count += other.count
        self.lines += other.lines
        self.weight += other.count
        self.reasons.update(other.reasons)
        self.sample = list(
            heapq.merge(self.sample, other.sample, key=lambda r: r.get("line") or 0)
        )[:SAMPLE]


def _csv_line(row: Any) -> int:
    """A rejects.csv row's line, to merge two files in line order."""
    line = row[0] if row else ""
    return int(line) if line.isdigit() else 0


class ContractRejects:
    """Rows whose values do not fit the type a column keeps from the version served
    before (on_schema_change=pin), found while converting, in file order.

    ``raw`` holds the row's cleaned fields joined by the delimiter: pass 2 reads the
    cleaned values, not the original text.
    """

    def __init__(self, path: Path, delimiter: str, quote: str | None) -> None:
        self.path = path
        self.count = 0
        self.lines = 0
        self.reasons: Counter[str] = Counter()
        self.columns: Counter[str] = Counter()  # rows rejected for each column
        self.sample: list[dict[str, Any]] = []
        self._delimiter = delimiter if len(delimiter) == 1 else " "
        self._quote = quote
        self._fh: TextIO | None = None
        self._writer: Any = None

    def raw(self, fields: Sequence[str | None]) -> str:
        values = ["" if f is None else f for f in fields]
        if not self._quote:
            return self._delimiter.join(values)
        buffer = io.StringIO()
        # (the line terminator's characters are what csv quotes line breaks for)
        writer = csv.writer(
            buffer, delimiter=self._delimiter, quotechar=self._quote, lineterminator="\r\n"
        )
        writer.writerow(values)
        return buffer.getvalue()[:-2]

    def add(
        self, line: int, reason: str, key: str, detail: str, columns: Sequence[str], raw: str
    ) -> None:
        """One row; ``key`` groups it in the counts by reason, ``columns`` are the ones
        whose value did not fit."""
        if self._fh is None:
            self._fh = self.path.open("w", encoding="utf-8", newline="")
            self._writer = csv.writer(self._fh, lineterminator="\n")
            self._writer.writerow(COLUMNS)
        self._writer.writerow((line, reason, detail, raw))
        self.count += 1
        self.lines += 1 + raw.count("\n")
        self.reasons[key] += 1
        self.columns.update(columns)
        if len(self.sample) < SAMPLE:
            self.sample.append(
                {
                    "line": line,
                    "reason": reason,
                    "detail": detail,
                    "expected_fields": None,
                    "found_fields": None,
                    "text": raw[:_PREVIEW],
                }
            )

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
