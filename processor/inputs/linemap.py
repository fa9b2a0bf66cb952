"""Line numbers of the source for rows read from a generated CSV.

Workbooks and JSON reach the CSV pipeline as a CSV written to local disk. Its lines
are not the source's: the header is added, values with line breaks take several lines,
a JSON object may span many. :class:`LineMapWriter` notes, while that CSV is written,
where the CSV line of a record and its source line (sheet row, NDJSON line, line an
array element starts on) stop differing by the same amount; :class:`MappedLines`
turns the pipeline's CSV lines back into source lines. Only the changes are stored,
on disk (16 bytes each) and read through a memory map, so memory stays flat.
"""

from __future__ import annotations

from array import array
from pathlib import Path

import numpy as np
import numpy.typing as npt

from processor.pipeline.reader import BatchLines

_FLUSH = 64 * 1024


class LineMapWriter:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fh = path.open("wb")
        self._pending = array("q")
        self._offset: int | None = None
        self.changes = 0

    def record(self, csv_line: int, source_line: int) -> None:
        offset = source_line - csv_line
        if offset == self._offset:
            return
        self._offset = offset
        self._pending.extend((csv_line, offset))
        self.changes += 1
        if len(self._pending) >= _FLUSH:
            self._pending.tofile(self._fh)
            self._pending = array("q")

    def close(self) -> LineMap:
        self._pending.tofile(self._fh)
        self._fh.close()
        return LineMap(self.path, self.changes)


class LineMap:
    def __init__(self, path: Path, changes: int) -> None:
        if changes:
            pairs = np.memmap(path, dtype=np.int64, mode="r").reshape(-1, 2)
            self._starts: npt.NDArray[np.int64] = pairs[:, 0]
            self._offsets: npt.NDArray[np.int64] = pairs[:, 1]
        else:
            self._starts = self._offsets = np.zeros(0, dtype=np.int64)

    def source(self, csv_lines: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        if not len(self._starts):
            return csv_lines
        at = np.searchsorted(self._starts, csv_lines, side="right") - 1
        return csv_lines + self._offsets[np.maximum(at, 0)]

    def line(self, csv_line: int) -> int:
        return int(self.source(np.array([csv_line], dtype=np.int64))[0])

    def wrap(self, lines: BatchLines) -> BatchLines:
        return MappedLines(lines, self)


class MappedLines(BatchLines):
    """A batch's lines, as source lines. A record is one source row whatever the line
    breaks in its values, so the line a row ends on is the line it starts on."""

    def __init__(self, inner: BatchLines, linemap: LineMap) -> None:
        super().__init__(inner.first_line, inner.inserts, inner.columns, inner.breaks)
        self.row_breaks = inner.row_breaks
        self._map = linemap

    def lines_of(self, rows: list[int]) -> list[int]:
        csv_lines = np.asarray(super().lines_of(rows), dtype=np.int64)
        return [int(v) for v in self._map.source(csv_lines)]

    def last_line_of(self, row: int) -> int:
        return self.lines_of([row])[0]

    def all_lines(self, kept_rows: npt.NDArray[np.intp] | None = None) -> npt.NDArray[np.int64]:
        return self._map.source(super().all_lines(kept_rows))
