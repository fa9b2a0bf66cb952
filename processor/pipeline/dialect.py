"""Dialect detection (delimiter, header, line endings) on a decoded text sample."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from .aligned import SEPARATOR, AlignedLines, find_columns
from .errors import BadInput
from .spacing import SpaceBeforeQuote, pads_separators
from .whitespace import RuleLines, WhitespaceFields, has_rule_lines

CANDIDATE_DELIMITERS = (",", ";", "\t", "|")
_MAX_SAMPLE_RECORDS = 1000
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
# Clearly-data cells, for header detection (the real type rules are in infer.py).
_NUMBER_LIKE = re.compile(r"-?(?:\d+(?:[.,]\d+)*|\d*[.,]\d+)(?:[eE][+-]?\d+)?")
_DATE_LIKE = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+.*)?|\d{1,2}[/.-]\d{1,2}[/.-]\d{4}")


@dataclass(frozen=True)
class Dialect:
    delimiter: str
    has_header: bool
    header_detected: bool  # False when the user decided
    skip_lines: int  # physical lines before the header (or the first data line)
    header: tuple[str, ...]  # header cells as written, or "" for each column without one
    header_line_breaks: int  # line breaks inside quoted header cells
    line_endings: str  # "LF" | "CRLF" | "CR" | "mixed" | "none"
    title_rows: int = 0  # rows above the header recognised as titles and skipped
    quote: str | None = '"'  # None: quotes are ordinary characters
    delimiter_score: float = 1.0  # share of sample records with the usual field count
    header_votes: int = 0  # columns whose values voted for (+) or against (-) a header
    # Whitespace-aligned tables: the [start, end) character span of each column.
    aligned: tuple[tuple[int, int], ...] | None = None
    # Separators padded with spaces before quoted values: the spaces are dropped.
    space_before_quote: bool = False
    # Fields separated by runs of spaces and tabs (quotes respected): cut into SEPARATOR.
    whitespace: bool = False
    # The header has no cell for the first column (one field short, or blank): row labels.
    row_labels: bool = False
    # Lines of a C-style /* ... */ comment block above the table (in skip_lines).
    comment_block_lines: int = 0
    # A delimited file drawn with rule lines (|----|----|, =====): they become blank.
    rule_lines: bool = False

    @property
    def delimiter_name(self) -> str:
        """The delimiter as the report names it."""
        if self.aligned:
            return "aligned"
        return "whitespace" if self.whitespace else self.delimiter


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


@dataclass(frozen=True)
class Sample:
    records: list[list[str]]
    line_ends: list[int]  # physical lines consumed once each record is read


def parse_sample(text: str, delimiter: str, truncated: bool, quote: str | None = '"') -> Sample:
    """Quote-aware records of the sample; the last one is dropped if the sample was cut."""
    # newline="" splits lines on CR, LF and CRLF like pyarrow does, so line_num counts
    # the same physical lines as its skip_rows.
    options: dict[str, Any] = (
        {"quotechar": quote} if quote else {"quoting": csv.QUOTE_NONE, "escapechar": None}
    )
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False, **options)
    records: list[list[str]] = []
    ends: list[int] = []
    try:
        for record in reader:
            if len(records) == _MAX_SAMPLE_RECORDS:
                return Sample(records, ends)
            records.append(record)
            ends.append(reader.line_num)
    except csv.Error:
        # The broken record (e.g. a quote still open at the end) was not appended.
        return Sample(records, ends)
    if truncated and records:
        records.pop()
        ends.pop()
    return Sample(records, ends)


def parse_records(text: str, delimiter: str, truncated: bool) -> list[list[str]]:
    return parse_sample(text, delimiter, truncated).records


def _non_blank(record: list[str]) -> int:
    return sum(1 for cell in record if cell.strip())


def modal_width(records: list[list[str]]) -> tuple[int, float]:
    """(most common field count among non-blank records, share of records having it).

    ``#`` comment lines take no part: they are skipped, whatever they split into."""
    counts = Counter(len(r) for r in records if _non_blank(r) and not _is_comment(r))
    if not counts:
        return 0, 0.0
    width, hits = max(counts.items(), key=lambda kv: (kv[1], kv[0]))
    return width, hits / sum(counts.values())


def delimiter_score(records: list[list[str]]) -> float:
    width, share = modal_width(records)
    return share if width >= 2 else 0.0


def detect_delimiter(text: str, truncated: bool) -> str:
    """The candidate that splits the sample into the most consistent field counts.

    Ties go to the order of CANDIDATE_DELIMITERS, so a one-column file reads as ",".
    """
    return best_delimiter(text, truncated)[0]


def best_delimiter(text: str, truncated: bool, quote: str = '"') -> tuple[str, float]:
    best, best_score = CANDIDATE_DELIMITERS[0], 0.0
    for delim in CANDIDATE_DELIMITERS:
        if delim not in text:
            continue
        score = delimiter_score(parse_sample(text, delim, truncated, quote).records)
        if score > best_score:
            best, best_score = delim, score
    return best, best_score


_SINGLE_QUOTED = r"(?:^|[,;\t|])'[^'\r\n]*'(?=[,;\t|]|\r|\n|$)"


def detect_quote(text: str) -> str:
    """'"' unless the sample has no double quote and several 'single-quoted' fields."""
    if '"' in text:
        return '"'
    return "'" if len(re.findall(_SINGLE_QUOTED, text, re.MULTILINE)) >= 2 else '"'


_MAX_PREAMBLE = 50


def _looks_like_header(record: list[str], null_tokens: frozenset[str]) -> bool:
    """Every cell a distinct name: no blank, no null token, no number or date ("N N N"
    is a row of type codes, "1,,"" a row of data)."""
    names = [c.strip() for c in record]
    return (
        all(names)
        and len(set(names)) == len(names)
        and not any(n in null_tokens or cell_kind(n) for n in names)
    )


_COMMENT = re.compile(r"#+(?:\s|$)")


def _is_comment(record: list[str]) -> bool:
    """A record that starts with "#" and a blank (``# 1 NUMBER``, ``## notes``), not a
    header cell such as ``#,##0``."""
    return bool(record) and _COMMENT.match(record[0].lstrip()) is not None


def preamble_length(records: list[list[str]], null_tokens: frozenset[str] = frozenset()) -> int:
    """How many leading records are titles or notes above the table, not its header.

    The header is taken to be the first record that has the table's usual field count
    and 2+ non-empty cells. Records above it are skipped when there are several, or
    one that is a title (one non-empty cell). A single multi-cell record above it is
    kept: that is a header whose field count differs (e.g. rows with a trailing
    delimiter), and its rows are reported as malformed rather than guessed at.
    """
    width, share = modal_width([r for r in records if not _is_comment(r)])
    if width < 2 or share < 0.5:
        return 0
    header = next(
        (
            i
            for i, record in enumerate(records[: _MAX_PREAMBLE + 1])
            if len(record) == width and _non_blank(record) >= 2 and not _is_comment(record)
        ),
        None,
    )
    if header is None:
        return 0
    # Two header-like records in a row ("<1960 Q1>" above "invest income cons"): the
    # upper one is a title when the lower one votes as a header over the rows below.
    found = header
    while (
        header < _MAX_PREAMBLE
        and len(records) > header + 2
        and len(records[header + 1]) == width
        and _looks_like_header(records[header + 1], null_tokens)
        and header_votes([records[header], *records[header + 2 :]], null_tokens) > 0
        and header_votes(records[header + 1 :], null_tokens) > 0
    ):
        header += 1
    if header == 0:
        return 0
    if header > found:
        return header
    if all(_is_comment(r) or not _non_blank(r) for r in records[:header]):
        return header
    # A padded one-cell record in a 2-column table may be a header like "name,".
    if width == 2 and any(len(r) == 2 for r in records[:header]):
        return 0
    if header == 1 and _non_blank(records[0]) >= 2:
        # One ragged record above: a header whose field count differs (a trailing
        # delimiter, or no cell above row labels), unless the full-width record below
        # it is itself clearly a header (its columns vote so), or it names far fewer
        # columns than the rows have (scikit-learn's "569,30,malignant,benign" above
        # 31-field rows: counts and class names, not one name per column).
        if len(records) > 2 and header_votes(records[1:], null_tokens) > 0:
            return 1
        if _non_blank(records[0]) < width - 1 and any(
            _NUMBER_LIKE.fullmatch(c.strip()) for c in records[0]
        ):
            # With counts in it. Names only ("a,b" over four fields) are more likely a
            # broken header: the rows' field counts fail the file rather than its
            # names being skipped as a title.
            return 1
        return 0
    return header


def cell_kind(value: str) -> str | None:
    """ "number" or "date" for cells that are clearly data, None for anything else."""
    if _NUMBER_LIKE.fullmatch(value):
        return "number"
    if _DATE_LIKE.fullmatch(value):
        return "date"
    return None


def detect_header(records: list[list[str]], null_tokens: frozenset[str]) -> bool:
    """Whether the first record is a header: columns whose sample values are all
    numbers (or all dates) vote "header" when the first cell is not of that kind and
    "data" when it is. Text columns carry no evidence; a tie means header."""
    return header_votes(records, null_tokens) >= 0


def header_votes(records: list[list[str]], null_tokens: frozenset[str]) -> int:
    """The vote behind :func:`detect_header`: > 0 header, < 0 data, 0 no evidence."""
    first, body = records[0], records[1:]
    if not body:
        return 0
    votes = 0
    for j, cell in enumerate(first):
        head = cell.strip()
        if head in null_tokens:
            continue
        values = [r[j].strip() for r in body if j < len(r)]
        kinds = {cell_kind(v) for v in values if v not in null_tokens}
        if len(kinds) != 1 or None in kinds:
            continue
        votes += -1 if cell_kind(head) in kinds else 1
    return votes


_WS_MARGIN = 0.1


def whitespace_sample(body: str, truncated: bool) -> tuple[str, Sample]:
    text = WhitespaceFields()(body, final=not truncated)
    return text, parse_sample(text, SEPARATOR, truncated, '"')


def _first_width(records: list[list[str]]) -> int:
    """Fields of the first non-blank record that is not a # comment (a one-field first
    line, as in a one-column list of names, is no whitespace table)."""
    return next((len(r) for r in records if _non_blank(r) and not _is_comment(r)), 0)


def comment_block(body: str) -> int:
    """Physical lines of a C-style ``/* ... */`` comment at the top of ``body`` (0: none)."""
    if not body.lstrip(" \t").startswith("/*"):
        return 0
    end = body.find("*/")
    if end < 0:
        return 0
    return len(_LINE_BREAK.findall(body, 0, end)) + 1


def one_record_is_data(record: list[str], null_tokens: frozenset[str]) -> bool:
    """A file of one record: data, not a header, when every cell is a number or date."""
    cells = [c.strip() for c in record if c.strip() and c.strip() not in null_tokens]
    return bool(cells) and all(cell_kind(c) for c in cells)


def line_breaks_in(cells: list[str] | tuple[str, ...]) -> int:
    return sum(len(_LINE_BREAK.findall(c)) for c in cells)


def detect_dialect(
    text: str,
    truncated: bool,
    delimiter: str | None,
    header_row: int | None,
    no_header: bool,
    null_tokens: frozenset[str] = frozenset(),
) -> Dialect:
    endings = line_endings(text)
    skip = header_row if header_row is not None else leading_blank_lines(text)
    body = skip_physical_lines(text, skip)
    if not body.strip():
        if header_row is not None and text.strip():
            # Said in the user's count of lines, which starts at 1.
            raise BadInput(f"header_row {header_row + 1} is past the end of the file")
        raise BadInput("the file has no columns: it is empty or only blank lines")
    comments = comment_block(body) if header_row is None else 0
    if comments:
        skip += comments
        body = skip_physical_lines(body, comments)
        blank = leading_blank_lines(body)
        skip, body = skip + blank, skip_physical_lines(body, blank)
        if not body.strip():
            raise BadInput("the file has no columns: only a comment")
    quote: str | None = detect_quote(body)
    aligned: tuple[tuple[int, int], ...] | None = None
    spaced = False
    if delimiter:
        delim, score = delimiter, 1.0
    else:
        delim, score = best_delimiter(body, truncated, quote or '"')
        spans = find_columns(body) if score < 0.9 else None
        ws_width, ws_share = 0, 0.0
        ws = Sample([], [])
        if score < 1.0:
            ws_text, ws = whitespace_sample(body, truncated)
            ws_width, ws_share = modal_width(ws.records)
        if spans and (score < 0.5 or len(spans) == ws_width) and ws_share < 0.999:
            # No delimiter splits the lines consistently, but blank gaps do.
            aligned, delim, quote, score = tuple(spans), SEPARATOR, None, 1.0
            body = AlignedLines(spans)(body, final=not truncated)
        elif ws_width >= 2 and ws_share > score + _WS_MARGIN and _first_width(ws.records) >= 2:
            # Runs of spaces and tabs split the lines more consistently.
            spaced, delim, quote, score = True, SEPARATOR, '"', ws_share
            body = ws_text
        elif spans and score < 0.5:
            aligned, delim, quote, score = tuple(spans), SEPARATOR, None, 1.0
            body = AlignedLines(spans)(body, final=not truncated)
    rules = not aligned and not spaced and has_rule_lines(body)
    if rules:
        body = RuleLines()(body, final=not truncated)
    sample = parse_sample(body, delim, truncated, quote)
    padded = (
        bool(quote) and not spaced and pads_separators(sample.records, body, delim, quote or '"')
    )
    if padded:
        body = SpaceBeforeQuote(delim, quote or '"')(body, final=not truncated)
        sample = parse_sample(body, delim, truncated, quote)
    if not sample.records:
        sample = parse_sample(body, delim, False, quote)
    if not sample.records:
        raise BadInput("the file has no columns: no complete row in the first block")
    records = sample.records
    titles = 0
    if header_row is None:
        titles = preamble_length(records, null_tokens)
        if titles:
            skip += sample.line_ends[titles - 1]
            records = records[titles:]
    first = records[0]
    votes = header_votes(records, null_tokens)
    if no_header:
        has_header, detected = False, False
    elif header_row is not None:
        has_header, detected = True, False
    elif len(records) == 1:
        # One record alone: a header with no rows, unless every cell is a number or date.
        has_header, detected = not one_record_is_data(first, null_tokens), True
    else:
        # A table below title rows nearly always has a header, even one of numbers
        # ("Year,2000,2001") that the column vote would take for data.
        # Not when the record below them is numbers or dates in every cell (none
        # blank, as above row labels) and the columns vote it data: a table of numbers
        # with no header under a line of metadata.
        comments_only = all(_is_comment(r) or not _non_blank(r) for r in sample.records[:titles])
        numbers_below = (
            votes < 0 and all(c.strip() for c in first) and one_record_is_data(first, null_tokens)
        )
        has_header = (titles > 0 and not comments_only and not numbers_below) or votes >= 0
        detected = True
    header = tuple(first) if has_header else tuple("" for _ in first)
    labels = False
    if has_header and len(records) > 1:
        width, share = modal_width(records[1:])
        below = [r for r in records[1:] if len(r) == width]
        if len(first) == width - 1 and share >= 0.8:
            if sum(1 for r in below if not r[-1].strip()) >= 0.9 * len(below):
                # The rows end with a delimiter the header lacks: an empty last column.
                header = (*first, "")
            else:
                # One field short of the rows (R's write.table with row names): the
                # first column holds row labels and has no header cell.
                header, labels = ("", *first), True
        elif len(first) == width and len(first) >= 3 and not first[0].strip():
            labels = all(c.strip() for c in first[1:])
    return Dialect(
        delimiter=delim,
        has_header=has_header,
        header_detected=detected,
        skip_lines=skip,
        header=header,
        header_line_breaks=line_breaks_in(first) if has_header else 0,
        line_endings=endings,
        title_rows=titles,
        delimiter_score=score if not delimiter else 1.0,
        header_votes=votes,
        quote=quote,
        aligned=aligned,
        space_before_quote=padded,
        whitespace=spaced,
        row_labels=labels,
        comment_block_lines=comments,
        rule_lines=rules and not padded,
    )
