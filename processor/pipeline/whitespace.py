"""Tables whose fields are separated by runs of whitespace (spaces and tabs mixed), as
R's ``write.table`` and many scientific tools write them: ``"x" "y"`` over ``"1" 1.5 "a"``.

Each line is cut into fields at runs of blanks outside double quotes (a quoted field
keeps its blanks and tabs), leading and trailing blanks are dropped, and the fields are
joined with ``SEPARATOR`` for pyarrow, which then reads quotes as usual. Rule lines
(``-----``, ``=====``, ``*****``) become blank lines, which are dropped as empty rows
while still counting for line numbers.
"""

from __future__ import annotations

import re

from .aligned import SEPARATOR, is_rule_line
from .lines import LINE_BREAK, LineTransform

_FIELD = re.compile(r'"(?:[^"]|"")*"(?=[ \t]|$)|[^ \t]+')
# "#" and a blank (or nothing) first on a line: a comment, as in delimited files.
_COMMENT = re.compile(r"#+(?:[ \t]|$)")


def split_fields(line: str) -> str:
    if is_rule_line(line):
        return ""
    text = line.strip(" \t")
    if _COMMENT.match(text):
        # Left whole: one field, skipped and counted as a comment line. Split, a
        # comment of as many words as the table has columns ("# second comment" in a
        # three-column table) would be read as a row.
        return text
    return SEPARATOR.join(_FIELD.findall(text))


class WhitespaceFields(LineTransform):
    """Whitespace-separated lines as SEPARATOR-joined fields."""

    def line(self, line: str) -> str:
        return split_fields(line)


class RuleLines(LineTransform):
    """For delimited files drawn with rule lines (``|----|----|``, ``=====``): those
    lines become blank, so they are dropped as empty rows."""

    def line(self, line: str) -> str:
        return "" if is_rule_line(line) else line


def has_rule_lines(text: str) -> bool:
    return any(is_rule_line(line) for line in LINE_BREAK.split(text)[::2] if line.strip())
