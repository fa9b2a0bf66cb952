"""Header normalisation: snake_case ASCII names, unique, never blank."""

from __future__ import annotations

import re
import unicodedata

_CAMEL_1 = re.compile(r"([a-z0-9])([A-Z])")
_CAMEL_2 = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NON_WORD = re.compile(r"[^a-z0-9]+")


def snake_case(name: str) -> str:
    """ASCII snake_case; "" when nothing usable is left (e.g. only symbols or CJK)."""
    # NFKD splits "ç" into "c" + cedilla, so dropping non-ASCII keeps the letter.
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    ascii_name = _CAMEL_2.sub(r"\1_\2", _CAMEL_1.sub(r"\1_\2", ascii_name.strip()))
    return _NON_WORD.sub("_", ascii_name.lower()).strip("_")


def normalise_headers(names: list[str]) -> list[str]:
    """snake_case each name; blanks become column_N (1-based position); repeats get
    _2, _3... skipping any suffix that another column already uses as its own name."""
    base = [snake_case(n) or f"column_{i}" for i, n in enumerate(names, start=1)]
    taken = set(base)
    seen: set[str] = set()
    out: list[str] = []
    for name in base:
        final = name
        if name in seen:
            k = 2
            while f"{name}_{k}" in taken or f"{name}_{k}" in seen:
                k += 1
            final = f"{name}_{k}"
        seen.add(final)
        out.append(final)
    return out
