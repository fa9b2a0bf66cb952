"""Values that span lines: counted, and the ones that look like swallowed records found.

A quote that is opened by mistake (``99,"unterminated,5``) and closed by a quote some
lines further down makes one row of every line in between: pyarrow reads a valid row
with the right field count, and the rows it swallowed are gone without a trace. A
legitimate multi-line value (an address, a comment) rarely holds whole lines that each
read as a complete record of the table. So a value whose inner lines (every line of
it but its first and its last, which the row's own text surrounds) each parse as a
record with the expected number of fields is taken for an unterminated quote: its row
is rejected as ``suspected unterminated quote`` with its line, not merged silently.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from .strbuf import string_buffers, value_bytes

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
SAMPLE = 20


@dataclass
class Multiline:
    """What the multi-line values of the file were, for the report."""

    rows: int = 0  # rows with at least one value spanning lines
    values: int = 0
    lines: list[int] = field(default_factory=list)  # the first rows' lines
    suspected: int = 0  # rows rejected as a suspected unterminated quote

    def as_dict(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "values": self.values,
            "first_lines": self.lines,
            "suspected_unterminated_quotes": self.suspected,
        }


def _positions(buf: bytes, byte: bytes) -> list[int]:
    """Where ``byte`` occurs in ``buf``: one memchr-speed ``find`` per occurrence (line
    breaks inside values are rare), no whole-array passes."""
    out = []
    at = buf.find(byte)
    while at != -1:
        out.append(at)
        at = buf.find(byte, at + 1)
    return out


def breaks_per_value(values: pa.Array) -> np.ndarray | None:
    """Line breaks (CRLF once) inside each value, or None when there is none at all."""
    data = value_bytes(values)
    if not data.size:
        return None
    buf = data.tobytes()
    breaks = _positions(buf, b"\n")
    # A CR directly followed by LF is one break (the LF is counted).
    breaks += [at for at in _positions(buf, b"\r") if buf[at + 1 : at + 2] != b"\n"]
    if not breaks:
        return None
    offsets, _ = string_buffers(values)
    # value_bytes starts at the first value's offset, as string_buffers' offsets do.
    owner = np.searchsorted(offsets[1:], np.asarray(breaks, dtype=np.int64), side="right")
    per_value: np.ndarray = np.bincount(owner, minlength=len(values)).astype(np.int64)
    return per_value


def _reads_as_record(line: str, fields: int, delimiter: str, quote: str | None) -> bool:
    if not line.strip():
        return False
    reader = csv.reader(
        io.StringIO(line),
        delimiter=delimiter,
        quotechar=quote or '"',
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        strict=False,
    )
    try:
        rows = list(reader)
    except csv.Error:
        return False
    return len(rows) == 1 and len(rows[0]) == fields


def swallowed_lines(value: str, fields: int, delimiter: str, quote: str | None) -> list[str]:
    """The inner lines of ``value`` when each of them reads as a complete record of
    ``fields`` fields (the value then probably swallowed them); [] otherwise."""
    inner = _LINE_BREAK.split(value)[1:-1]
    if not inner:
        return []
    if all(_reads_as_record(line, fields, delimiter, quote) for line in inner):
        return inner
    return []


@dataclass
class Suspect:
    row: int  # in the batch
    column: int
    lines: list[str]


def scan_batch(
    columns: Sequence[pa.Array],
    delimiter: str | None,
    quote: str | None,
    found: Multiline,
) -> tuple[np.ndarray | None, list[Suspect], np.ndarray]:
    """Count the batch's multi-line values into ``found``; the mask of rows with one
    (None: no such row), the rows whose value swallowed complete records, and the line
    breaks inside each row (for its line numbers)."""
    fields = len(columns)
    rows: np.ndarray | None = None
    suspects: list[Suspect] = []
    per_row = np.zeros(len(columns[0]) if columns else 0, dtype=np.int64)
    checkable = fields >= 2 and delimiter is not None and len(delimiter) == 1
    for k, values in enumerate(columns):
        per_value = breaks_per_value(values)
        if per_value is None:
            continue
        per_row += per_value
        spans = per_value > 0
        found.values += int(spans.sum())
        rows = spans if rows is None else rows | spans
        if not checkable:
            continue
        assert delimiter is not None
        for i in np.flatnonzero(per_value >= 2).tolist():
            if any(s.row == i for s in suspects):
                continue
            lines = swallowed_lines(values[i].as_py() or "", fields, delimiter, quote)
            if lines:
                suspects.append(Suspect(i, k, lines))
    if rows is not None:
        found.rows += int(rows.sum())
    suspects.sort(key=lambda s: s.row)
    return rows, suspects, per_row


def raw_row(columns: Sequence[pa.Array], row: int, delimiter: str | None, quote: str | None) -> str:
    """A row's fields written back as CSV (quoted where needed), for rejects.csv."""
    values = [columns[k][row].as_py() or "" for k in range(len(columns))]
    sep = delimiter if delimiter is not None and len(delimiter) == 1 else ","
    buffer = io.StringIO()
    writer = csv.writer(
        buffer,
        delimiter=sep,
        quotechar=quote or '"',
        quoting=csv.QUOTE_MINIMAL if quote else csv.QUOTE_NONE,
        escapechar=None if quote else "\\",
        lineterminator="\r\n",
    )
    writer.writerow(values)
    return buffer.getvalue()[:-2]
