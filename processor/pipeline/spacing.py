"""Files that pad every separator with spaces (``a, "b, c", d``).

pyarrow (like RFC 4180) treats a quote as special only at the very start of a field,
so ``, "6,000,000"`` splits inside the quotes and the row is rejected. For files whose
fields mostly start with a space, the spaces between a separator and an opening quote
are removed before parsing; spaces inside quoted values are kept, because the quote
state is tracked across the whole stream.
"""

from __future__ import annotations

import re


class SpaceBeforeQuote:
    """Incremental transform: drop the spaces between a separator and a quote."""

    def __init__(self, delimiter: str, quote: str) -> None:
        self._delimiter = delimiter
        self._quote = quote
        self._pattern = re.compile(
            f"{re.escape(quote)}|{re.escape(delimiter)} +(?={re.escape(quote)})"
        )
        self._quoted = False
        self._held = ""

    def __call__(self, text: str, final: bool) -> str:
        text, self._held = self._held + text, ""
        if not final:
            # A separator and spaces at the end of a chunk may come before a quote at
            # the start of the next one: hold them back until then.
            last = text.rfind(self._delimiter)
            if last >= 0 and not text[last + 1 :].strip(" "):
                text, self._held = text[:last], text[last:]
        out: list[str] = []
        pos = 0
        for match in self._pattern.finditer(text):
            token = match.group()
            if token == self._quote:
                self._quoted = not self._quoted
                continue
            if self._quoted:
                continue
            out.append(text[pos : match.start() + 1])  # keep the separator
            pos = match.end()
        out.append(text[pos:])
        return "".join(out)


def pads_separators(records: list[list[str]], text: str, delimiter: str, quote: str) -> bool:
    """Whether most fields after the first start with a space and at least one of them
    is a quoted value behind that space."""
    later = [cell for record in records for cell in record[1:]]
    if len(later) < 2 or sum(1 for c in later if c.startswith(" ")) < 0.5 * len(later):
        return False
    return re.search(f"{re.escape(delimiter)} +{re.escape(quote)}", text) is not None
