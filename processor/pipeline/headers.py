"""Header normalisation: Unicode snake_case names, unique, never blank.

Every letter, mark and digit of a header is kept (``Straße`` → ``straße``, ``Größe (cm)``
→ ``größe_cm``, ``景點分類代碼1`` → ``景點分類代碼1``): the name is put in NFC, camelCase
is split, it is lower-cased (``str.lower``, so ``ß`` stays ``ß``), and every run of other
characters (spaces, punctuation) becomes one ``_``. Symbols with a name become that name
as a word of their own (``%`` → ``pct``, ``#`` → ``no``, ``€`` → ``eur``, ``$`` →
``usd``), so ``Growth %`` → ``growth_pct`` and ``%`` alone → ``pct``. Only a header with
none of these (blank, or only other punctuation) becomes ``column_N``.
"""

from __future__ import annotations

import re
import unicodedata

# Longest first: "R$" before "$". Currency signs name their usual ISO 4217 code.
SYMBOL_NAMES: tuple[tuple[str, str], ...] = (
    ("R$", "brl"),
    ("US$", "usd"),
    ("%", "pct"),
    ("‰", "permille"),
    ("#", "no"),
    ("№", "no"),
    ("€", "eur"),
    ("$", "usd"),
    ("£", "gbp"),
    ("¥", "jpy"),
    ("₹", "inr"),
    ("₽", "rub"),
    ("₩", "krw"),
    ("&", "and"),
    ("+", "plus"),
    ("@", "at"),
    ("°", "deg"),
)
# A run of one symbol names it once ("###" → "no").
_SYMBOLS = re.compile("|".join(f"(?:{re.escape(s)})+" for s, _ in SYMBOL_NAMES))


def _symbol_name(run: str) -> str:
    return next(name for symbol, name in SYMBOL_NAMES if run.startswith(symbol))


def _kept(ch: str) -> bool:
    """Letters (any script), combining marks and digits stay part of a name."""
    return unicodedata.category(ch)[0] in "LMN"


def _split_camel(name: str) -> str:
    """``totalAmount`` → ``total Amount``, ``HTTPCode`` → ``HTTP Code`` (any script
    with case: ``größeCm`` → ``größe Cm``)."""
    out: list[str] = []
    for i, ch in enumerate(name):
        if i and ch.isupper():
            prev = name[i - 1]
            nxt = name[i + 1] if i + 1 < len(name) else ""
            if prev.islower() or prev.isdigit() or (prev.isupper() and nxt.islower()):
                out.append(" ")
        out.append(ch)
    return "".join(out)


def snake_case(name: str) -> str:
    """Unicode snake_case; "" when no letter, digit or named symbol is left."""
    text = unicodedata.normalize("NFC", name).strip()
    text = _SYMBOLS.sub(lambda m: f" {_symbol_name(m.group(0))} ", text)
    text = _split_camel(text).lower()
    words: list[str] = []
    word: list[str] = []
    for ch in text:
        if _kept(ch):
            word.append(ch)
        elif word:
            words.append("".join(word))
            word = []
    if word:
        words.append("".join(word))
    # Lower-casing can decompose (e.g. "İ" → "i̇"): compose again.
    return unicodedata.normalize("NFC", "_".join(words))


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
