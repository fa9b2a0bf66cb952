"""rejects.csv: every rejected row with its line number, the reason and its raw text."""

from __future__ import annotations

import csv
from collections import Counter, deque
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .errors import UNTERMINATED, WRONG_FIELDS

if TYPE_CHECKING:
    from .reader import Reject

FILE = "rejects.csv"
COLUMNS = ("line", "reason", "detail", "raw")
SAMPLE = 20
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
        self._fh: TextIO | None = None
        self._writer: Any = None

    def add(self, reject: Reject) -> None:
        if reject.reason == WRONG_FIELDS and reject.text.lstrip().startswith("#"):
            self.comment_lines += reject.lines
            self.skipped_rows += 1
            return
        self._held.append(reject)
        if len(self._held) > self.HOLD:
            self._write(self._held.popleft())

    def finish(self, last_data_line: int | None) -> None:
        """Write what is held back; rows below ``last_data_line`` after a gap are notes."""
        footer: list[Reject] = []
        if self._held and last_data_line is not None:
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
        self.weight += reject.lines if reject.reason == UNTERMINATED else 1
        self.reasons[reject.reason] += 1
        if len(self.sample) < SAMPLE:
            self.sample.append(reject.as_dict(_PREVIEW))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
