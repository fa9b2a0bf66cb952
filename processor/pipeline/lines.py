"""Streaming text transforms that rewrite a file line by line.

The reader hands decoded text over in arbitrary chunks; a transform must only ever
rewrite whole lines, keeping the line breaks (they count for line numbers).
"""

from __future__ import annotations

import re

LINE_BREAK = re.compile(r"(\r\n|\r|\n)")


class LineTransform:
    """Incremental transform of decoded text: whole lines out, the rest held back.
    Subclasses say what becomes of one line (without its break)."""

    def __init__(self) -> None:
        self._held = ""

    def line(self, line: str) -> str:
        raise NotImplementedError

    def __call__(self, text: str, final: bool) -> str:
        text = self._held + text
        if not final:
            # A CR at the very end may be the first half of a CRLF.
            cut = max(text.rfind("\n"), text.rfind("\r") if not text.endswith("\r") else -1)
            if cut < 0:
                self._held = text
                return ""
            text, self._held = text[: cut + 1], text[cut + 1 :]
        else:
            self._held = ""
        parts = LINE_BREAK.split(text)
        parts[::2] = [self.line(p) for p in parts[::2]]
        return "".join(parts)
