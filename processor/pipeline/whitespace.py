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

_LINE = re.compile(r"(\r\n|\r|\n)")
_FIELD = re.compile(r'"(?:[^"]|"")*"(?=[ \t]|$)|[^ \t]+')


def split_fields(line: str) -> str:
    if is_rule_line(line):
        return ""
    return SEPARATOR.join(_FIELD.findall(line.strip(" \t")))


class WhitespaceFields:
    """Incremental transform of decoded text: whole lines out, the rest held back."""

    def __init__(self) -> None:
        self._held = ""

    def __call__(self, text: str, final: bool) -> str:
        text = self._held + text
        if not final:
            cut = max(text.rfind("\n"), text.rfind("\r") if not text.endswith("\r") else -1)
            if cut < 0:
                self._held = text
                return ""
            text, self._held = text[: cut + 1], text[cut + 1 :]
        else:
            self._held = ""
        parts = _LINE.split(text)
        parts[::2] = [split_fields(p) for p in parts[::2]]
        return "".join(parts)


def _blank_rules(line: str) -> str:
    return "" if is_rule_line(line) else line


class RuleLines:
    """Incremental transform for delimited files drawn with rule lines (``|----|----|``,
    ``=====``): those lines become blank, so they are dropped as empty rows."""

    def __init__(self) -> None:
        self._held = ""

    def __call__(self, text: str, final: bool) -> str:
        text = self._held + text
        if not final:
            cut = max(text.rfind("\n"), text.rfind("\r") if not text.endswith("\r") else -1)
            if cut < 0:
                self._held = text
                return ""
            text, self._held = text[: cut + 1], text[cut + 1 :]
        else:
            self._held = ""
        parts = _LINE.split(text)
        parts[::2] = [_blank_rules(p) for p in parts[::2]]
        return "".join(parts)


def has_rule_lines(text: str) -> bool:
    return any(is_rule_line(line) for line in _LINE.split(text)[::2] if line.strip())
