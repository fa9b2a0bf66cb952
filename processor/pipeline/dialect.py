"""Dialect detection (delimiter, header, line endings) on a decoded text sample."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass

from .errors import BadInput

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
_MAX_SAMPLE_RECORDS = 1000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# A header cell is a name; a cell like these is data, so a first row made only of
# them means the file has no header.
_DATA_LIKE = re.compile(
    r"-?(?:\d+(?:[.,]\d+)*|\d*[.,]\d+)(?:[eE][+-]?\d+)?"
    r"|\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+.*)?"
    r"|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}"
)


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    has_header: bool
    header_detected: bool  # False when the user decided
    skip_lines: int  # physical lines before the header (or the first data line)
    header: tuple[str, ...]  # header cells as written, or "" for each column without one
    header_line_breaks: int  # line breaks inside quoted header cells
    line_endings: str  # "LF" | "CRLF" | "CR" | "mixed" | "none"


def line_endings(text: str) -> str:
    kinds = {m.group() for m in _LINE_BREAK.finditer(text[: 1 << 16])}
    names = {"\n": "LF", "\r\n": "CRLF", "\r": "CR"}
    if not kinds:
        return "none"
    if len(kinds) > 1:
        return "mixed"
    return names[kinds.pop()]


def skip_physical_lines(text: str, count: int) -> str:
    """Drop ``count`` physical lines, like pyarrow's ``skip_rows`` (which ignores quotes)."""
    pos = 0
    for _ in range(count):
        match = _LINE_BREAK.search(text, pos)
        if match is None:
            return ""
        pos = match.end()
    return text[pos:]


def leading_blank_lines(text: str) -> int:
    count, pos = 0, 0
    for match in _LINE_BREAK.finditer(text):
        if text[pos : match.start()].strip():
            return count
        count, pos = count + 1, match.end()
    return count


def parse_records(text: str, delimiter: str, truncated: bool) -> list[list[str]]:
    """Quote-aware records of the sample; the last one is dropped if the sample was cut."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    records: list[list[str]] = []
    try:
        for record in reader:
            records.append(record)
            if len(records) > _MAX_SAMPLE_RECORDS:
                return records[:-1]
    except csv.Error:
        pass
    if truncated and records:
        records.pop()
    return records


def delimiter_score(records: list[list[str]]) -> tuple[float, int]:
    """(share of non-blank records having the most common field count, that count)."""
    counts = Counter(len(r) for r in records if any(cell.strip() for cell in r))
    if not counts:
        return 0.0, 0
    width, hits = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    if width < 2:
        return 0.0, width
    return hits / sum(counts.values()), width


def detect_delimiter(text: str, truncated: bool) -> str:
    """The candidate that splits the sample into the most consistent field counts.

    Ties go to the order of CANDIDATE_DELIMITERS, so a one-column file reads as ",".
    """
    best, best_score = CANDIDATE_DELIMITERS[0], 0.0
    for delim in CANDIDATE_DELIMITERS:
        if delim not in text:
            continue
        score, _ = delimiter_score(parse_records(text, delim, truncated))
        if score > best_score:
            best, best_score = delim, score
    return best


def looks_like_data(cells: list[str]) -> bool:
    values = [c.strip() for c in cells]
    return bool(values) and all(v and _DATA_LIKE.fullmatch(v) for v in values)


def count_line_breaks(cells: list[str] | tuple[str, ...]) -> int:
    return sum(len(_LINE_BREAK.findall(c)) for c in cells)


def detect_dialect(
    text: str,
    truncated: bool,
    delimiter: str | None,
    header_row: int | None,
    no_header: bool,
) -> Dialect:
    endings = line_endings(text)
    skip = header_row if header_row is not None else leading_blank_lines(text)
    body = skip_physical_lines(text, skip)
    if not body.strip():
        if header_row is not None and text.strip():
            raise BadInput(f"header_row {header_row} is past the end of the file")
        raise BadInput("the file has no columns: it is empty or only blank lines")
    delim = delimiter or detect_delimiter(body, truncated)
    records = parse_records(body, delim, truncated) or parse_records(body, delim, False)
    if not records:
        raise BadInput("the file has no columns: no complete row in the first block")
    first = records[0]
    if no_header:
        has_header, detected = False, False
    elif header_row is not None:
        has_header, detected = True, False
    else:
        has_header, detected = not (len(records) > 1 and looks_like_data(first)), True
    header = tuple(first) if has_header else tuple("" for _ in first)
    return Dialect(
        delimiter=delim,
        has_header=has_header,
        header_detected=detected,
        skip_lines=skip,
        header=header,
        header_line_breaks=count_line_breaks(first) if has_header else 0,
        line_endings=endings,
    )
