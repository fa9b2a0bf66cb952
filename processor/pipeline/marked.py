"""Numbers as people write them around the digits: currency symbols and codes before
or after (``$1,234.56``, ``R$ 1.234,56``, ``1.234,56 €``, ``USD 12``), accounting
negatives ``(1,234.00)``, the Unicode minus U+2212 and the en dash U+2013 as minus and a trailing
minus (``123-``).

:func:`normalise` turns a batch into plain signed number text (``-1,234.00``), which
the ordinary number candidates then judge (grouping and decimal mark by evidence), and
says which currency and which marks it removed, for the report. A column stays a
candidate only while every value has this shape and at most one currency appears in
it: amounts in two currencies are not one number column.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

CURRENCY_CODES = [
    "USD",
    "EUR",
    "GBP",
    "BRL",
    "JPY",
    "CNY",
    "CHF",
    "CAD",
    "AUD",
    "NZD",
    "MXN",
    "ARS",
    "CLP",
    "COP",
    "PEN",
    "UYU",
    "INR",
    "RUB",
    "ZAR",
    "SEK",
    "NOK",
    "DKK",
    "PLN",
    "CZK",
    "HUF",
    "TRY",
    "KRW",
    "HKD",
    "SGD",
]
# Longer symbols first: "R$" before "$".
CURRENCY_SYMBOLS = (
    "R$",
    "US$",
    "U$S",
    "C$",
    "A$",
    "$",
    "€",
    "£",
    "¥",
    "₹",
    "₩",
    "₽",
    "₺",
    "zł",
    "kr",
)
_CURRENCY = "|".join([*(s.replace("$", r"\$") for s in CURRENCY_SYMBOLS), *CURRENCY_CODES])
_MINUS = "-\u2212\u2013"


@functools.cache
def _other_minus() -> pa.Array:
    # At first use, not at import (see datewords._word_set).
    return pa.array(["\u2212", "\u2013"])


PATTERN = (
    rf"^(?P<open>[{_MINUS}(]?) ?(?P<c1>(?:{_CURRENCY})?) ?(?P<minus>[{_MINUS}]?) ?"
    rf"(?P<num>[0-9][0-9.,]*|[.,][0-9]+) ?(?P<c2>(?:{_CURRENCY})?)(?P<close>[)-]?)$"
)
# The loose shape of such a value, for telling counterexamples from numbers.
SHAPE = (
    rf"^[-+{_MINUS}(]? ?(?:(?:{_CURRENCY}) ?)?[{_MINUS}]?(?:[0-9]+(?:[.,][0-9]+)*|[.,][0-9]+)"
    rf"(?:[eE][-+]?[0-9]+)? ?(?:%|{_CURRENCY})?\)?-?$"
)


@dataclass
class Marks:
    """What was removed around the digits, over the whole column."""

    currencies: set[str] = field(default_factory=set)
    parentheses: int = 0
    trailing_minus: int = 0
    other_minus: int = 0  # U+2212 minus sign or U+2013 en dash

    def describe(self) -> str:
        parts = []
        if self.currencies:
            parts.append(f"currency {'/'.join(sorted(self.currencies))} removed")
        if self.parentheses:
            parts.append(f"{self.parentheses} accounting negative(s) like (1,234.00)")
        if self.trailing_minus:
            parts.append(f"{self.trailing_minus} trailing minus sign(s) like 123-")
        if self.other_minus:
            parts.append(f"{self.other_minus} Unicode or en-dash minus sign(s)")
        return "; ".join(parts)


def _empty(values: pa.Array) -> pa.Array:
    return pc.equal(values, "")


def normalise(values: pa.Array, marks: Marks | None = None) -> pa.Array | None:
    """Plain signed number text of every value (nulls kept), or None if a value is not
    a number written with these marks. ``marks`` collects what was removed."""
    parts = pc.extract_regex(values, PATTERN)
    if parts.null_count != values.null_count:
        return None

    def part(name: str) -> pa.Array:
        return pc.struct_field(parts, name)

    opened, minus, close = part("open"), part("minus"), part("close")
    c1, c2 = part("c1"), part("c2")
    paren = pc.equal(opened, "(")
    # "(" needs ")"; one sign at most; a currency on one side only.
    bad = pc.or_(
        pc.not_equal(paren, pc.equal(close, ")")),
        pc.or_(
            pc.and_(pc.invert(_empty(opened)), pc.invert(_empty(minus))),
            pc.and_(
                pc.equal(close, "-"),
                pc.or_(pc.invert(_empty(opened)), pc.invert(_empty(minus))),
            ),
        ),
    )
    bad = pc.or_(bad, pc.and_(pc.invert(_empty(c1)), pc.invert(_empty(c2))))
    if pc.any(bad).as_py():
        return None
    currency = pc.binary_join_element_wise(c1, c2, "")
    found = {c for c in pc.unique(currency).to_pylist() if c}
    if marks is not None:
        marks.currencies |= found
        if len(marks.currencies) > 1:
            return None
        marks.parentheses += int(pc.sum(paren).as_py() or 0)
        marks.trailing_minus += int(pc.sum(pc.equal(close, "-")).as_py() or 0)
        unicode_minus = pc.or_(pc.is_in(opened, _other_minus()), pc.is_in(minus, _other_minus()))
        marks.other_minus += int(pc.sum(unicode_minus).as_py() or 0)
    elif len(found) > 1:
        return None
    negative = pc.or_(
        pc.or_(pc.invert(_empty(opened)), pc.invert(_empty(minus))), pc.equal(close, "-")
    )
    sign = pc.if_else(negative, "-", "")
    return pc.binary_join_element_wise(sign, part("num"), "")
