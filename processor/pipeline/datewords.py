"""Dates written with month names, in English, Portuguese, Spanish, French and German
("05-Mar-2024", "Jan 1 2000", "5 de março de 2024", "1. März 2024", "mars 2024"), and
year-first dates and times with slashes ("2024/01/31", "2024/01/31 13:45[:00]").

Each check takes a whole batch and answers with the parsed array or None, so a column
stays a candidate only while every value parses; a real date is required (31 Feb fails).
A month and year alone ("mars 2024") is stored as the first day of that month.
Two-digit years ("05-Mar-24", "1/1/85") fall in the hundred years that end ten years
from now: with 2026, 00-36 are 2000-2036 and 37-99 are 1937-1999.
"""

from __future__ import annotations

import datetime as dt
import functools

import pyarrow as pa
import pyarrow.compute as pc

_MONTH_WORDS: dict[int, tuple[str, ...]] = {
    1: ("january", "jan", "janeiro", "enero", "ene", "janvier", "janv", "januar", "jänner"),
    2: (
        "february",
        "feb",
        "fevereiro",
        "fev",
        "febrero",
        "février",
        "fevrier",
        "févr",
        "fevr",
        "februar",
    ),
    3: ("march", "mar", "março", "marco", "marzo", "mars", "märz", "maerz", "mär", "mrz"),
    4: ("april", "apr", "abril", "abr", "avril", "avr"),
    5: ("may", "maio", "mai", "mayo"),
    6: ("june", "jun", "junho", "junio", "juin", "juni"),
    7: ("july", "jul", "julho", "julio", "juillet", "juil", "juli"),
    8: ("august", "aug", "agosto", "ago", "août", "aout"),
    9: ("september", "sep", "sept", "setembro", "set", "septiembre", "setiembre", "septembre"),
    10: ("october", "oct", "outubro", "out", "octubre", "octobre", "oktober", "okt"),
    11: ("november", "nov", "novembro", "noviembre", "novembre"),
    12: (
        "december",
        "dec",
        "dezembro",
        "dez",
        "diciembre",
        "dic",
        "décembre",
        "decembre",
        "déc",
        "dezember",
    ),
}
_WORDS = [word for words in _MONTH_WORDS.values() for word in words]
_NUMBERS = [f"{month:02d}" for month, words in _MONTH_WORDS.items() for _ in words]


@functools.cache
def _word_set() -> pa.Array:
    # Built at first use, not at import: the processor's start stays free of pa.array,
    # which imports pandas unless processor.nopandas.without_pandas ran first.
    return pa.array(_WORDS)


@functools.cache
def _number_of() -> pa.Array:
    return pa.array(_NUMBERS)


# Month words are Latin-1 letters only; RE2 builds \pL (every Unicode letter) anew at
# each call, ~7 ms a pattern, which was most of a tiny file's processing. A word with
# other letters was never a month name either: the lookup below rejects it.
_LETTER = "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff]"
_MONTH = rf"(?P<m>{_LETTER}{{3,10}})\.?"
_YEAR = r"(?P<y>[0-9]{4}|[0-9]{2})"
_NAMED = (
    # 05-Mar-2024, 5 Mar 2024, 5 de março de 2024, 1. März 2024, 1er mars 2024
    rf"^(?P<d>[0-9]{{1,2}})(?:st|nd|rd|th|er|º|\.)?[ /-](?:de )?{_MONTH},?[ /-](?:de )?{_YEAR}$",
    # Jan 1 2000, January 1, 2000
    rf"^{_MONTH}[ -](?P<d>[0-9]{{1,2}})(?:st|nd|rd|th)?,?[ ](?P<y>[0-9]{{4}})$",
    # mars 2024, Mar-2024, março de 2024
    rf"^{_MONTH}[ /-](?:de )?(?P<y>[0-9]{{4}})$",
)
YMD_SLASH = r"^(?P<y>[0-9]{4})/(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})$"
YMD_SLASH_TIME = (
    r"^(?P<y>[0-9]{4})/(?P<a>[0-9]{1,2})/(?P<b>[0-9]{1,2})[ T]"
    r"(?P<h>[0-9]{1,2}):(?P<t>[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)$"
)
# The loose shape of a named date, for counterexamples.
NAMED_SHAPE = rf"^[0-9]{{0,2}}\.? ?(?:de )?{_LETTER}{{3,10}}\.?,?[ /-]"


def pivot_year() -> int:
    """Two-digit years up to this one are 20yy, the others 19yy."""
    return (dt.date.today().year + 10) % 100


def full_year(year: pa.Array) -> pa.Array:
    """ "85" -> "1985", "24" -> "2024"; four-digit years unchanged."""
    short = pc.equal(pc.utf8_length(year), 2)
    if not pc.any(short).as_py():
        return year
    century = pc.if_else(
        pc.less_equal(pc.cast(pc.if_else(short, year, "0"), pa.int32()), pivot_year()),
        "20",
        "19",
    )
    return pc.if_else(short, pc.binary_join_element_wise(century, year, ""), year)


def _iso(year: pa.Array, month: pa.Array, day: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(
        full_year(year), pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-"
    )


def _cast(text: pa.Array, target: pa.DataType) -> pa.Array | None:
    try:
        return pc.cast(text, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def named_dates(values: pa.Array) -> pa.Array | None:
    """date32 of dates with month names (nulls kept), or None if a value is not one."""
    valid = values.is_valid()
    day: pa.Array | None = None
    month: pa.Array | None = None
    year: pa.Array | None = None
    for pattern in _NAMED:
        parts = pc.extract_regex(values, pattern)
        names = {parts.type.field(i).name for i in range(parts.type.num_fields)}
        d = pc.struct_field(parts, "d") if "d" in names else None
        m, y = pc.struct_field(parts, "m"), pc.struct_field(parts, "y")
        if d is None:
            d = pc.if_else(pc.is_valid(m), "1", pa.scalar(None, pa.string()))
        day = d if day is None else pc.coalesce(day, d)
        month = m if month is None else pc.coalesce(month, m)
        year = y if year is None else pc.coalesce(year, y)
    assert day is not None and month is not None and year is not None
    if not pc.all(pc.equal(pc.is_valid(month), valid)).as_py():
        return None
    index = pc.index_in(pc.utf8_lower(month), value_set=_word_set())
    if index.null_count != values.null_count:
        return None
    number = pc.take(_number_of(), index)
    return _cast(_iso(year, number, day), pa.date32())


def slash_dates(values: pa.Array, with_time: bool) -> pa.Array | None:
    """date32 (or timestamp[us]) of "yyyy/mm/dd[ HH:MM[:SS]]" values, or None."""
    parts = pc.extract_regex(values, YMD_SLASH_TIME if with_time else YMD_SLASH)
    if parts.null_count != values.null_count:
        return None

    def field(name: str) -> pa.Array:
        return pc.struct_field(parts, name)

    date = _iso(field("y"), field("a"), field("b"))
    if not with_time:
        return _cast(date, pa.date32())
    time = pc.binary_join_element_wise(pc.utf8_lpad(field("h"), 2, "0"), field("t"), ":")
    return _cast(pc.binary_join_element_wise(date, time, "T"), pa.timestamp("us"))
