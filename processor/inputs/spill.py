"""The CSV that workbooks and JSON are written to, on local disk, for the CSV pipeline."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from .linemap import LineMap, LineMapWriter


def line_breaks(text: str) -> int:
    return text.count("\n") + text.count("\r") - text.count("\r\n")


class CsvSpill:
    """Comma-separated, quoted where needed, UTF-8, one record per source row; notes
    each record's source line (see linemap.py)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh: TextIO = path.open("w", encoding="utf-8", newline="")
        # "\r\n": csv then quotes values holding either character (with "\n" alone, a
        # bare "\r" in a value would be written unquoted and read as a line break).
        self._writer = csv.writer(self._fh, lineterminator="\r\n")
        self._lines = LineMapWriter(path.with_suffix(".lines"))
        self._line = 1  # the CSV line the next record starts on
        self.records = 0

    def write(self, values: Sequence[str | None], source_line: int | None) -> None:
        if source_line is not None:
            self._lines.record(self._line, source_line)
        self._writer.writerow(["" if v is None else v for v in values])
        self.records += 1
        self._line += 1
        for value in values:
            if value and ("\n" in value or "\r" in value):
                self._line += line_breaks(value)

    def close(self) -> LineMap:
        self._fh.close()
        return self._lines.close()

    def abort(self) -> None:
        self._fh.close()
        self._lines.close()
