"""Whitespace-aligned tables ("fixed width" text reports) turned into delimited text.

Columns are found on the sample as runs of character positions that some line fills,
separated by positions that are blank on every line. Each line is then cut at those
gaps and its cells joined with ``SEPARATOR``, which pyarrow parses without quoting.
A line that has text inside a gap does not fit the layout: it is passed on unchanged,
so it arrives as one field and is quarantined rather than cut in the wrong place.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence

from .lines import LINE_BREAK, LineTransform

SEPARATOR = "\x1f"  # ASCII unit separator: never in real text
_GAP = re.compile(r" {2,}")
_MIN_LINES = 3
_MAX_LINES = 500
# A line of dashes, equals signs, stars or underscores (with blanks, "|" or "+"):
# a rule drawn between a table's parts, never data.
_RULE = re.compile(r"[ \t|+:]*[-=*_~]{3,}[-=*_~ \t|+:]*")


def is_rule_line(line: str) -> bool:
    return _RULE.fullmatch(line) is not None


def find_columns(text: str) -> list[tuple[int, int]] | None:
    """[start, end) character spans of the columns, or None if the text is not an
    aligned table of at least two columns over at least three lines.

    The layout comes from the lines with the usual number of cells, so one line that
    does not fit cannot blur it. Cells are split by two or more spaces; when that gives
    no layout (right-aligned numbers one space apart), by any run of spaces, and the
    layout must then have as many columns as those lines have cells.
    """
    lines = [
        ln.rstrip() for ln in LINE_BREAK.split(text)[::2] if ln.strip() and not is_rule_line(ln)
    ][:_MAX_LINES]
    if len(lines) < _MIN_LINES or any("\t" in ln for ln in lines):
        return None
    return (
        _layout(lines, lambda ln: len(_GAP.split(ln.strip())), exact=False)
        or _layout(lines, lambda ln: len(ln.split()), exact=True)
        or _union_layout(lines)
    )


def _union_layout(lines: list[str]) -> list[tuple[int, int]] | None:
    """Small tables whose cells hold single spaces (``'s worlds``): the blank positions
    of every line from the header on, kept only if they give exactly one column per
    header word (prose or an overflowing cell would merge columns)."""
    first = next((i for i, ln in enumerate(lines) if len(ln.split()) >= 2), None)
    if first is None or len(lines) - first < _MIN_LINES:
        return None
    spans = _spans(lines[first:])
    return spans if len(spans) >= 2 and len(spans) == len(lines[first].split()) else None


def _spans(shaping: list[str]) -> list[tuple[int, int]]:
    width = max(len(ln) for ln in shaping)
    used = [False] * width
    for ln in shaping:
        for i, ch in enumerate(ln):
            if ch != " ":
                used[i] = True
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for i, filled in enumerate([*used, False]):
        if filled and start is None:
            start = i
        elif not filled and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _layout(
    lines: list[str], count: Callable[[str], int], exact: bool
) -> list[tuple[int, int]] | None:
    cells = [count(ln) for ln in lines]
    usual = Counter(cells).most_common(1)[0][0]
    # The layout starts at the header: the first line with the usual number of cells,
    # or the line just above it when that one has fewer cells but at least two (names
    # one space apart). Titles, boxes and prose above it do not take part in it.
    first = next((i for i, n in enumerate(cells) if n == usual), 0)
    if not exact and first and 2 <= cells[first - 1] < usual:
        first -= 1
    if first:
        lines, cells = lines[first:], cells[first:]
    typical = [ln for ln, n in zip(lines, cells, strict=True) if n == usual]
    if usual < 2 or len(typical) < 0.5 * len(lines):
        return None
    # The first line (the header, whose names may be one space apart) shapes it too.
    shaping = typical if lines[0] in typical else [lines[0], *typical]
    spans = _spans(shaping)
    if not exact and len(spans) > usual:
        spans = _join_bridged(spans, typical, usual)
    if not exact and len(spans) < usual:
        spans = _cell_extents(typical, usual) or spans
    if len(spans) < 2 or (exact and len(spans) != usual):
        return None
    fitting = sum(1 for ln in lines if _fits(ln, spans))
    return spans if fitting >= 0.8 * len(lines) else None


def _join_bridged(
    spans: list[tuple[int, int]], typical: list[str], usual: int
) -> list[tuple[int, int]]:
    """Join the columns either side of a one-character gap that a line's cell crosses.

    The lines were counted ``usual`` cells each by splitting at two or more spaces, so
    a single space with text on both sides on such a line is inside a cell (right-
    aligned ``12-15 years`` over ``< 12 years``: the space before ``years`` is blank on
    every line, but no line has a gap there). Kept only when the joined layout has as
    many columns as the lines have cells.
    """
    joined = [spans[0]]
    for start, end in spans[1:]:
        gap = start - 1
        if start - joined[-1][1] == 1 and any(
            len(ln) > start and ln[gap - 1] != " " and ln[start] != " " for ln in typical
        ):
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    return joined if len(joined) == usual else spans


_CELL = re.compile(r"\S+(?: \S+)*")


def _cell_extents(typical: list[str], usual: int) -> list[tuple[int, int]] | None:
    """Columns from where each line's cells lie, when blank positions alone merge two.

    A left-aligned label column that runs up to the next column's header (``Oslo
    Blindern`` ending where ``Temp`` starts) leaves no position blank on every line
    between them, though every line has ``usual`` cells two spaces apart. Column k
    then spans from the leftmost start to the rightmost end of the lines' k-th cells;
    kept only if those spans do not overlap."""
    starts = [len(max(typical, key=len))] * usual
    ends = [0] * usual
    for ln in typical:
        cells = [(m.start(), m.end()) for m in _CELL.finditer(ln)]
        if len(cells) != usual:
            return None
        for k, (start, end) in enumerate(cells):
            starts[k], ends[k] = min(starts[k], start), max(ends[k], end)
    spans = list(zip(starts, ends, strict=True))
    if any(spans[k][1] > spans[k + 1][0] for k in range(usual - 1)):
        return None
    return spans


def split_line(line: str, spans: Sequence[tuple[int, int]]) -> str:
    if is_rule_line(line):
        return ""
    if not line.strip() or not _fits(line, spans):
        return line
    cells = []
    for i, (start, end) in enumerate(spans):
        stop = len(line) if i == len(spans) - 1 else end
        # Nothing is left of the first column: a wider right-aligned value (an id
        # grown a digit below the sample) that starts before it is still its own.
        cells.append(line[0 if i == 0 else start : stop].strip())
    return SEPARATOR.join(cells)


def _fits(line: str, spans: Sequence[tuple[int, int]]) -> bool:
    """Whether the gaps between columns are blank (the last column may run on, and the
    first may start further left)."""
    pos = spans[0][1]
    for start, end in spans[1:]:
        if line[pos:start].strip():
            return False
        # Columns that touch: the line must not have one word across the cut.
        if pos == start and 0 < start < len(line) and " " not in line[start - 1 : start + 1]:
            return False
        pos = end
    return True


class AlignedLines(LineTransform):
    """Fixed-width lines cut at the detected column spans."""

    def __init__(self, spans: Sequence[tuple[int, int]]) -> None:
        super().__init__()
        self._spans = list(spans)

    def line(self, line: str) -> str:
        return split_line(line, self._spans)
