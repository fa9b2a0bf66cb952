"""rejects.csv: every rejected row with its line number, the reason and its raw text."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any, BinaryIO, TextIO

from .reader import Reject

FILE = "rejects.csv"
COLUMNS = ("line", "reason", "detail", "raw")
SAMPLE = 20
_PREVIEW = 200


class RejectsFile:
    """A RejectSink writing rows as they are resolved, in file order.

    The file is created on the first reject only, so a clean input leaves none.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self.lines = 0
        self.reasons: Counter[str] = Counter()
        self.sample: list[dict[str, Any]] = []
        self._fh: TextIO | None = None
        self._writer: Any = None

    def add(self, reject: Reject) -> None:
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
        self.reasons[reject.reason] += 1
        if len(self.sample) < SAMPLE:
            self.sample.append(reject.as_dict(_PREVIEW))

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def read_page(source: BinaryIO, offset: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Rows ``offset .. offset+limit-1`` of a rejects.csv stream, and the total count.

    Streams the file once: only the page is kept in memory.
    """
    items: list[dict[str, Any]] = []
    total = 0
    text = io.TextIOWrapper(source, encoding="utf-8", newline="")
    reader = csv.reader(text)
    if next(reader, None) is None:
        return items, 0
    for total, row in enumerate(reader, start=1):
        if offset < total <= offset + limit and len(row) == len(COLUMNS):
            line, reason, detail, raw = row
            items.append(
                {
                    "line": int(line) if line.isdigit() else None,
                    "reason": reason,
                    "detail": detail,
                    "raw": raw,
                }
            )
    return items, total
