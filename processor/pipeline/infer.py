"""Column type inference over the whole file.

Each column keeps a :class:`ColumnStats` that every batch updates (:func:`accumulate`);
:func:`decide_type` then picks a type from the stats alone. A candidate type survives
only while *every* non-null value seen so far parses as that type, so the first block
never decides on its own. When a type family (numbers, dates, ...) explained nearly
every value and then died, the values that killed it are kept, with their lines, as
counterexamples for the report.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from . import _native
from .dates import day_month_facts
from .datewords import full_year, named_dates, pivot_year, slash_dates
from .marked import SHAPE as MARKED_SHAPE
from .marked import Marks, normalise
from .strbuf import column_buffers, lengths


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    DECIMAL = "decimal"
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"
    STRING = "string"


@dataclass(frozen=True)
class ColumnType:
    kind: Kind
    # int: "plain" | "grouped" (1,234)
    # float/decimal: "plain" | "grouped" (1,234.5) | "decimal_comma" (1.234,5)
    #   | "percent" (12.5%) | "percent_comma" (12,5%); percentages are stored as fractions
    # date: "iso" | "dmy/" | "mdy/" (last char is the separator)
    # timestamp: "naive" | "utc" (offsets were present, converted to UTC)
    #   | "dmy/ time" | "mdy/ time"
    fmt: str = ""
    precision: int = 0  # decimal only
    scale: int = 0  # decimal, and percent (fraction digits of the written value)

    @property
    def label(self) -> str:
        """Human-readable format, for the report."""
        return _FORMAT_LABELS.get(self.fmt, self.fmt) if self.fmt else ""


# Numbers written with currency or sign marks: "marked " + the format of their digits.
MARKED = "marked "


_FORMAT_LABELS = {
    "plain": "",
    "grouped": "1,234.56",
    "decimal_comma": "1.234,56",
    "percent": "12.5% (stored as 0.125)",
    "percent_comma": "12,5% (stored as 0.125)",
    "iso": "yyyy-mm-dd",
    "named": "day, month name, year (en/pt/es/fr/de)",
    "ymd/": "yyyy/mm/dd",
    "ymd/ time": "yyyy/mm/dd HH:MM[:SS]",
    "naive": "ISO 8601",
    "utc": "ISO 8601 with offset, stored as UTC",
}
# Numbers with currency or sign marks (marked.py): the format of their digits, marked.
for _inner in ("plain", "grouped", "decimal_comma"):
    _FORMAT_LABELS[MARKED + _inner] = (
        f"{_FORMAT_LABELS[_inner] or '1234.56'} with currency or sign marks (see notes)"
    )
for _sep in "/-.":
    _FORMAT_LABELS[f"dmy{_sep}"] = f"dd{_sep}mm{_sep}yyyy"
    _FORMAT_LABELS[f"mdy{_sep}"] = f"mm{_sep}dd{_sep}yyyy"
    _FORMAT_LABELS[f"dmy{_sep} time"] = f"dd{_sep}mm{_sep}yyyy HH:MM[:SS]"
    _FORMAT_LABELS[f"mdy{_sep} time"] = f"mm{_sep}dd{_sep}yyyy HH:MM[:SS]"

STRING = ColumnType(Kind.STRING)

# What each candidate accepts (checked with pyarrow's strict parsers plus byte checks,
# or with these RE2 patterns where no parser exists):
#   int           -?(0|[1-9][0-9]*) fitting int64; int_grouped "1,234" (no fraction)
#   float         the same with an optional fraction and exponent: "1.5", ".5", "1e-3"
#   grouped       "1,234.56"; decimal_comma "1.234,56" or "12,5"
#   pct, pct_comma  one of the above followed by "%"
#   date          yyyy-mm-dd, or d/m/yyyy (also with "-" or ".") once a day > 12 proves it
#   timestamp     ISO 8601 date and time, all with an offset (stored UTC) or all without;
#                 or d/m/yyyy HH:MM[:SS]
# Leading zeros are excluded on purpose: "007" and "01310-100" are identifiers and
# must stay text, and so must every value of their column.
INT_RE = r"^-?(?:0|[1-9][0-9]*)$"
GROUPED_INT_RE = r"^-?[1-9][0-9]{0,2}(?:,[0-9]{3})+$"
GROUPED_RE = r"^-?(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|0|[1-9][0-9]*)(?:\.[0-9]+)?$"
DECIMAL_COMMA_RE = r"^-?(?:[1-9][0-9]{0,2}(?:\.[0-9]{3})+|0|[1-9][0-9]*)(?:,[0-9]+)?$"
PLAIN_NUMBER_RE = r"^-?(?:0|[1-9][0-9]*)?(?:\.[0-9]+)?$"
PERCENT_RE = r"^(-?(?:0|[1-9][0-9]*)(?:[.,][0-9]+)?)\s?%$"
DATE_SEPARATORS = ("/", "-", ".")
# Loose shapes, only to tell counterexamples from values of a mixed-format column.
_FAMILY_SHAPES = {
    "number": MARKED_SHAPE,
    "date": r"^(?:[0-9]{4}[-/][0-9]{1,2}[-/][0-9]{1,2}"
    r"|[0-9]{1,2}[/.-][0-9]{1,2}[/.-](?:[0-9]{4}|[0-9]{2}))$",
    "timestamp": r"^(?:[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}|[0-9]{1,2}[/.-][0-9]{1,2}[/.-][0-9]{4})"
    r"[T ][0-9]{1,2}:[0-9]{2}",
}
_FAMILY_NAMES = {
    "number": "numbers",
    "date": "dates",
    "timestamp": "date-times",
    "bool": "yes/no values",
}


def day_month_re(sep: str, with_time: bool = False) -> str:
    s = "\\" + sep
    date = rf"^(?P<a>[0-9]{{1,2}}){s}(?P<b>[0-9]{{1,2}}){s}(?P<y>[0-9]{{4}}|[0-9]{{2}})"
    if not with_time:
        return date + "$"
    return date + r"[ T](?P<h>[0-9]{1,2}):(?P<t>[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?)$"


# Portuguese and English spellings. 0/1 count only next to a word ("true", "sim"),
# so that a column of 0s and 1s stays int.
TRUE_TOKENS = ("true", "yes", "sim", "s", "y", "t", "1")
FALSE_TOKENS = ("false", "no", "não", "nao", "n", "f", "0")


@functools.cache
def _bool_set() -> pa.Array:
    # At first use, not at import (see datewords._word_set).
    return pa.array(TRUE_TOKENS + FALSE_TOKENS)


YES_WORDS = [token.encode() for token in TRUE_TOKENS]
NO_WORDS = [token.encode() for token in FALSE_TOKENS]

_NUMBER_KINDS = frozenset({"int", "int_grouped", "float", "grouped", "decimal_comma"})
_PERCENT_KINDS = frozenset({"pct", "pct_comma"})
_FAMILIES: dict[str, frozenset[str]] = {
    "number": _NUMBER_KINDS | _PERCENT_KINDS | {"marked"},
    "bool": frozenset({"bool"}),
    "date": frozenset({"date_iso", "date_named", "ymd/"} | {f"dm{sep}" for sep in DATE_SEPARATORS}),
    "timestamp": frozenset({"timestamp", "ymdt/"} | {f"dmt{sep}" for sep in DATE_SEPARATORS}),
}
ALL_CANDIDATES = frozenset().union(*_FAMILIES.values())
# Beyond this many significant digits a float64 no longer holds every decimal exactly.
FLOAT_DIGITS = 15
MAX_DECIMAL_DIGITS = 38
# A family that explained most values (a majority) when it died is worth naming the
# values that killed it: they are often markers ("(D)", "(NA)") to add to null_tokens.
_NEAR_MISS_SHARE = 0.5
_EXAMPLES = 3

LineOf = Callable[[list[int]], list[int]]


@dataclass
class NearMiss:
    """A type family that explained nearly every value until some values broke it."""

    family: str
    matched: int  # values that fit before it died
    examples: list[tuple[str, int | None]]  # (value, line)


@dataclass
class ColumnStats:
    """What a column's values allowed so far; mutated in place by :func:`accumulate`."""

    values: int = 0  # non-null
    nulls: int = 0
    alive: set[str] = field(default_factory=lambda: set(ALL_CANDIDATES))
    # For "dd/mm/yyyy" vs "mm/dd/yyyy", per candidate: the largest first and second
    # field seen, and whether every value is a real date when read either way.
    dm_max: dict[str, list[int]] = field(default_factory=dict)
    dm_valid: dict[str, list[bool]] = field(default_factory=dict)
    ts_with_offset: int = 0
    ts_without_offset: int = 0
    # Numbers longer than FLOAT_DIGITS bytes: their most digits, and fraction digits.
    max_digits: int = 0
    max_scale: int = 0
    any_scale: int = 0  # fraction digits of every value, short ones too
    max_int_digits: int = 0
    has_exponent: bool = False
    bool_words: bool = False  # saw a bool word, not only 0/1
    near_miss: NearMiss | None = None
    # Numbers with currency or sign marks: the plain numbers they stand for, judged by
    # the number candidates (set once the plain candidates died), and what was removed.
    marked: ColumnStats | None = None
    marks: Marks = field(default_factory=Marks)
    short_years: bool = False  # a date candidate read two-digit years


_PROBE = 64


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py() is not False)


def _probe(values: pa.Array) -> pa.Array:
    return values.slice(0, _PROBE)


def _parse(values: pa.Array, target: pa.DataType) -> pa.Array | None:
    """``values`` cast to ``target``, or None if any value does not parse. pyarrow's
    parsers are strict (no spaces, no "+" for ints, ISO dates only); the few extra
    things they accept are ruled out by the callers."""
    # A failing cast costs ~0.3 µs for *every* value (pyarrow does not stop at the
    # first bad one), so most dead candidates are caught on a small probe first.
    try:
        if len(values) > _PROBE:
            pc.cast(_probe(values), target)
        return pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return None


def _casts(values: pa.Array, target: pa.DataType) -> bool:
    return _parse(values, target) is not None


def _matches(values: pa.Array, pattern: str) -> bool:
    """Whether every value (no nulls) matches ``pattern``; the number shapes are
    checked by a compiled matcher written out from them (native/numbers.c)."""
    shape = _NUMBER_SHAPES.get(pattern)
    if shape is not None:
        group, mark, need_group = shape
        return _native.number_shapes(column_buffers(values), group, mark, need_group)
    return _all(pc.match_substring_regex(_probe(values), pattern)) and _all(
        pc.match_substring_regex(values, pattern)
    )


# (group mark, decimal mark, only the grouped form) of each number pattern; -1: none.
_NUMBER_SHAPES = {
    INT_RE: (-1, -1, False),
    GROUPED_INT_RE: (ord(","), -1, True),
    GROUPED_RE: (ord(","), ord("."), False),
    DECIMAL_COMMA_RE: (ord("."), ord(","), False),
}


def is_int_batch(values: pa.Array) -> bool:
    """Every value (no nulls) matches INT_RE and fits int64: one compiled pass. (Not
    pyarrow's int64 cast alone: it also takes "0x10", and "007" with a zero first.)"""
    return _native.int64_shapes(column_buffers(values))


def is_float_batch(values: pa.Array) -> bool:
    """Plain decimal or scientific notation (pyarrow's float grammar), no leading zero,
    no "+" first, no nulls: the shape in one compiled pass, so "inf", "nan" and
    "Infinity" never count; pyarrow parses only batches that could overflow."""
    facts = _native.float_facts(column_buffers(values))
    if facts is None:
        return False
    may_overflow, _ = facts
    if not may_overflow:
        return True
    # "1e999" parses as inf: storing that would silently lose the value.
    parsed = _parse(values, pa.float64())
    return parsed is not None and _all(pc.is_finite(parsed))


def plain_floats_are_grouped(values: pa.Array) -> bool:
    """For values already known to be plain floats: do they also fit GROUPED_RE?
    Only exponents and bare dots (".5", "-.5", "5.") are in one and not the other."""
    facts = _native.float_facts(column_buffers(values))
    return facts is not None and facts[1]


def dm_parts(values: pa.Array, sep: str, with_time: bool = False) -> pa.Array:
    """Struct of the a, b, y (and t) fields of "a/b/yyyy[ HH:MM]"; null where a value
    does not match."""
    return pc.extract_regex(values, day_month_re(sep, with_time))


def iso_from_parts(parts: pa.Array, day_first: bool, with_time: bool = False) -> pa.Array:
    a, b, y = (pc.struct_field(parts, name) for name in ("a", "b", "y"))
    day, month = (a, b) if day_first else (b, a)
    date = pc.binary_join_element_wise(
        full_year(y), pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-"
    )
    if not with_time:
        return date
    hour = pc.utf8_lpad(pc.struct_field(parts, "h"), 2, "0")
    time = pc.binary_join_element_wise(hour, pc.struct_field(parts, "t"), ":")
    return pc.binary_join_element_wise(date, time, "T")


def dm_to_iso(values: pa.Array, sep: str, day_first: bool, with_time: bool = False) -> pa.Array:
    """ "d/m/yyyy" (or m/d) strings to "yyyy-mm-dd"; non-matching values become null."""
    return iso_from_parts(dm_parts(values, sep, with_time), day_first, with_time)


def accumulate(stats: ColumnStats, values: pa.Array, line_of: LineOf | None = None) -> None:
    """Fold one batch of cleaned values (trimmed, null tokens already null) into stats.

    ``line_of`` maps row indexes of ``values`` to physical lines, for counterexamples.
    """
    nulls = values.null_count
    stats.nulls += nulls
    if len(values) == nulls:
        return
    if not stats.alive:
        # Text for good: nothing left to check, only values to count.
        stats.values += len(values) - nulls
        return
    if nulls:
        valid = values.is_valid()
        values = pc.drop_null(values)
    before = {family: bool(stats.alive & kinds) for family, kinds in _FAMILIES.items()}
    _accumulate_candidates(stats, values)
    stats.values += len(values)
    for family, kinds in _FAMILIES.items():
        if before[family] and not stats.alive & kinds:
            # Where the non-null values sat in the batch: only needed for the lines of
            # counterexamples, so only worked out when a family just died.
            rows = None
            if nulls:
                rows = np.flatnonzero(np.asarray(valid.to_numpy(zero_copy_only=False)))
            _note_near_miss(stats, family, values, rows, line_of)


def _accumulate_candidates(stats: ColumnStats, values: pa.Array) -> None:
    alive = stats.alive
    if alive & _PERCENT_KINDS:
        _accumulate_percent(stats, values)
    if alive & _NUMBER_KINDS:
        before = copy_stats(stats) if "marked" in alive else None
        _accumulate_numbers(stats, values)
        if before is not None and not alive & _NUMBER_KINDS:
            # Every earlier value was a plain number, which reads the same marked.
            before.alive &= _NUMBER_KINDS
            stats.marked = before
            _accumulate_marked(stats, values)
    elif "marked" in alive:
        _accumulate_marked(stats, values)
    if "bool" in alive:
        _accumulate_bool(stats, values)
    iso_dates = "date_iso" in alive and _casts(values, pa.date32())
    if not iso_dates:
        alive.discard("date_iso")
    for name, check in _WRITTEN_DATES:
        if name in alive and (check(_probe(values)) is None or check(values) is None):
            alive.discard(name)
    if "date_named" in alive and not stats.short_years:
        stats.short_years = _any(pc.match_substring_regex(values, r"[^0-9][0-9]{2}$"))
    for sep in DATE_SEPARATORS:
        if f"dm{sep}" in alive:
            _accumulate_day_month(stats, values, sep, with_time=False)
        if f"dmt{sep}" in alive:
            _accumulate_day_month(stats, values, sep, with_time=True)
    if iso_dates:
        # Dates are valid offset-free timestamps, so no need to parse them again.
        stats.ts_without_offset += len(values)
        if stats.ts_with_offset:
            alive.discard("timestamp")
    elif "timestamp" in alive:
        _accumulate_timestamp(stats, values)


_WRITTEN_DATES: tuple[tuple[str, Callable[[pa.Array], pa.Array | None]], ...] = (
    ("date_named", named_dates),
    ("ymd/", lambda v: slash_dates(v, with_time=False)),
    ("ymdt/", lambda v: slash_dates(v, with_time=True)),
)


def _note_near_miss(
    stats: ColumnStats,
    family: str,
    values: pa.Array,
    rows: np.ndarray | None,
    line_of: LineOf | None,
) -> None:
    misfits = np.flatnonzero(~fits_shape(values, _family_shape(family)))
    matched = stats.values - len(misfits)
    if matched < _NEAR_MISS_SHARE * stats.values or not len(misfits):
        return
    if stats.near_miss is not None and stats.near_miss.matched >= matched:
        return
    examples = examples_at(values, misfits, rows, line_of)
    stats.near_miss = NearMiss(family, matched, examples)


def examples_at(
    values: pa.Array,
    misfits: np.ndarray,
    rows: np.ndarray | None = None,
    line_of: LineOf | None = None,
    limit: int = _EXAMPLES,
) -> list[tuple[str, int | None]]:
    """The first ``limit`` values at indexes ``misfits`` of ``values``, with their lines.

    ``rows`` maps indexes of ``values`` to rows of the batch (when nulls were dropped
    from it); ``line_of`` maps those rows to physical lines.
    """
    picked = [int(i) for i in misfits[:limit]]
    batch_rows = [int(rows[i]) if rows is not None else i for i in picked]
    lines: list[int | None] = list(line_of(batch_rows)) if line_of else [None] * len(picked)
    return [(str(values[i].as_py()), line) for i, line in zip(picked, lines, strict=True)]


# --- shapes of a whole kind, for comparing a column with a version served before ------

# A loose test per value, so that one value alone can be told to fit or not (the
# candidates above only ever judge whole batches).
_INT_SHAPE = r"^-?(?:0|[1-9][0-9]*|[1-9][0-9]{0,2}(?:,[0-9]{3})+)$"
_KIND_SHAPES: dict[Kind, tuple[str, ...]] = {
    Kind.INT: (_INT_SHAPE,),
    Kind.FLOAT: (_FAMILY_SHAPES["number"],),
    Kind.DECIMAL: (_FAMILY_SHAPES["number"],),
    Kind.BOOL: ("bool",),
    Kind.DATE: (_FAMILY_SHAPES["date"],),
    Kind.TIMESTAMP: (_FAMILY_SHAPES["date"], _FAMILY_SHAPES["timestamp"]),
}
# The candidates that can still make a column of each kind, and of its family (the
# kinds it may widen to: int to float or decimal, date to timestamp).
_KIND_CANDIDATES: dict[Kind, frozenset[str]] = {
    Kind.INT: frozenset({"int", "int_grouped"}),
    Kind.FLOAT: _FAMILIES["number"],
    Kind.DECIMAL: _FAMILIES["number"],
    Kind.BOOL: _FAMILIES["bool"],
    Kind.DATE: _FAMILIES["date"],
    Kind.TIMESTAMP: _FAMILIES["date"] | _FAMILIES["timestamp"],
}
_FAMILY_OF_KIND: dict[Kind, Kind] = {
    Kind.INT: Kind.FLOAT,
    Kind.FLOAT: Kind.FLOAT,
    Kind.DECIMAL: Kind.FLOAT,
    Kind.BOOL: Kind.BOOL,
    Kind.DATE: Kind.TIMESTAMP,
    Kind.TIMESTAMP: Kind.TIMESTAMP,
}


def _family_shape(family: str) -> tuple[str, ...]:
    return ("bool",) if family == "bool" else (_FAMILY_SHAPES[family],)


def fits_shape(values: pa.Array, shapes: tuple[str, ...]) -> np.ndarray:
    """Per value: does it match one of ``shapes`` ("bool": a yes/no word)? Nulls fit."""
    fits: np.ndarray | None = None
    for shape in shapes:
        if shape == "bool":
            mask = pc.is_in(pc.utf8_lower(values), value_set=_bool_set())
        else:
            mask = pc.match_substring_regex(values, shape)
        got = np.asarray(mask.fill_null(True).to_numpy(zero_copy_only=False), dtype=bool)
        fits = got if fits is None else fits | got
    return fits if fits is not None else np.ones(len(values), dtype=bool)


def kind_shapes(kind: Kind, family: bool = False) -> tuple[str, ...]:
    """What one value of ``kind`` (with ``family``: of a kind it may widen to) looks
    like; empty for text, which takes anything."""
    if kind is Kind.STRING:
        return ()
    return _KIND_SHAPES[_FAMILY_OF_KIND[kind] if family else kind]


def kind_candidates(kind: Kind, family: bool = False) -> frozenset[str]:
    """Candidates that keep a column able to be ``kind`` (or one it may widen to)."""
    if kind is Kind.STRING:
        return frozenset()
    return _KIND_CANDIDATES[_FAMILY_OF_KIND[kind] if family else kind]


def fits_format(values: pa.Array, ctype: ColumnType) -> bool:
    """Whether every non-null value has the shape inference demands of ``ctype``'s
    format (numbers: "1.234,56" for decimal_comma, no leading zeros, no "nan" ...).

    Converting alone is laxer than inference for some number formats; values checked
    against a type that inference did not pick need this too. Dates, times and yes/no
    words are as strict when converted.
    """
    kind, fmt = ctype.kind, ctype.fmt
    if kind not in (Kind.INT, Kind.FLOAT, Kind.DECIMAL):
        return True
    if values.null_count:
        values = pc.drop_null(values)
    if not len(values):
        return True
    if fmt.startswith(MARKED):
        plain = normalise(values)
        inner = ColumnType(kind, fmt[len(MARKED) :], ctype.precision, ctype.scale)
        return plain is not None and fits_format(plain, inner)
    if kind is Kind.INT:
        return is_int_batch(values) if fmt == "plain" else _matches(values, GROUPED_INT_RE)
    if fmt == "plain":
        return is_float_batch(values)
    if fmt == "grouped":
        return _matches(values, GROUPED_RE)
    if fmt == "decimal_comma":
        return _matches(values, DECIMAL_COMMA_RE)
    mark = "," if fmt == "percent_comma" else "."
    facts = _native.percent_facts(column_buffers(values), ord(mark))
    return facts is not None and bool(facts[0])


def copy_stats(stats: ColumnStats) -> ColumnStats:
    """An independent copy (the counterexamples left out), to fold other values into."""
    return ColumnStats(
        values=stats.values,
        nulls=stats.nulls,
        alive=set(stats.alive),
        dm_max={k: list(v) for k, v in stats.dm_max.items()},
        dm_valid={k: list(v) for k, v in stats.dm_valid.items()},
        ts_with_offset=stats.ts_with_offset,
        ts_without_offset=stats.ts_without_offset,
        max_digits=stats.max_digits,
        max_scale=stats.max_scale,
        any_scale=stats.any_scale,
        max_int_digits=stats.max_int_digits,
        has_exponent=stats.has_exponent,
        bool_words=stats.bool_words,
    )


def has_oversized_int(values: pa.Array) -> bool:
    """An integer too big for int64 is an identifier (card, barcode), so the column
    must stay text rather than become a lossy float."""
    sizes = lengths(values)
    if not sizes.size or sizes.max() < 19:
        return False
    long = values.filter(pa.array(sizes >= 19))
    ints = long.filter(pc.match_substring_regex(long, INT_RE))
    return len(ints) > 0 and not _casts(ints, pa.int64())


def _note_long_numbers(stats: ColumnStats, values: pa.Array, decimal_mark: str) -> None:
    """Digits of the values too long to be sure a float64 holds them exactly."""
    sizes = lengths(values)
    if not sizes.size:
        return
    # Short values are not measured one by one, but their fraction digits still set
    # the scale a decimal column needs (".1" next to a 16-digit integer).
    fraction = _native.fraction_digits(column_buffers(values), ord(decimal_mark))
    stats.any_scale = max(stats.any_scale, fraction)
    if sizes.max() <= FLOAT_DIGITS:
        return
    for text in values.filter(pa.array(sizes > FLOAT_DIGITS)).to_pylist():
        mantissa, _, exponent = text.replace("E", "e").partition("e")
        if exponent:
            stats.has_exponent = True
        whole, _, fraction = mantissa.partition(decimal_mark)
        integer = sum(ch.isdigit() for ch in whole)
        stats.max_digits = max(stats.max_digits, integer + len(fraction))
        stats.max_scale = max(stats.max_scale, len(fraction))
        stats.max_int_digits = max(stats.max_int_digits, integer)


def _accumulate_numbers(stats: ColumnStats, values: pa.Array) -> None:
    alive = stats.alive
    if has_oversized_int(values):
        alive -= _NUMBER_KINDS
        return
    rest = values  # values not explained by a narrower number format
    if "int" in alive:
        if is_int_batch(values):
            return
        alive.discard("int")
        is_int = pc.match_substring_regex(values, INT_RE)
        rest = pc.filter(values, pc.invert(is_int))
    if "int_grouped" in alive and not _matches(rest, GROUPED_INT_RE):
        alive.discard("int_grouped")
    if "float" in alive:
        if is_float_batch(rest):
            if "grouped" in alive and not plain_floats_are_grouped(rest):
                alive.discard("grouped")
            if "decimal_comma" in alive and not _matches(rest, DECIMAL_COMMA_RE):
                alive.discard("decimal_comma")
            _note_long_numbers(stats, values, ".")
            return
        alive.discard("float")
    if "grouped" in alive and not _matches(rest, GROUPED_RE):
        alive.discard("grouped")
    if "decimal_comma" in alive and not _matches(rest, DECIMAL_COMMA_RE):
        alive.discard("decimal_comma")
    # Every value, ints included: a float column holding a long int would round it.
    if "grouped" in alive:
        _note_long_numbers(stats, values, ".")
    elif "decimal_comma" in alive:
        _note_long_numbers(stats, values, ",")


def percent_body(values: pa.Array) -> pa.Array:
    """ "12,5 %" -> "12,5": the number of a percentage (values end with "%")."""
    return pc.utf8_rtrim(values, characters="% ")


def _accumulate_percent(stats: ColumnStats, values: pa.Array) -> None:
    """Exactly PERCENT_RE for each mark, by a compiled pass (_native.percent_facts):
    the value ends in "%", its body (before the "%" and spaces) has no leading zero,
    only digits, the mark and "-", and reads as a float."""
    alive = stats.alive
    column = column_buffers(values)
    for name, mark in (("pct", "."), ("pct_comma", ",")):
        if name not in alive:
            continue
        facts = _native.percent_facts(column, ord(mark))
        if facts is None or not facts[0]:
            alive.discard(name)
            continue
        _, scale, digits, integer = facts
        stats.max_scale = max(stats.max_scale, scale)
        stats.max_digits = max(stats.max_digits, digits)
        stats.max_int_digits = max(stats.max_int_digits, integer)


def _accumulate_marked(stats: ColumnStats, values: pa.Array) -> None:
    """Numbers with currency or sign marks: normalised, then judged as plain numbers."""
    if normalise(_probe(values)) is None:
        stats.alive.discard("marked")
        stats.marked = None
        return
    text = normalise(values, stats.marks)
    if stats.marked is None:
        stats.marked = ColumnStats(alive=set(_NUMBER_KINDS))
    if text is not None:
        accumulate(stats.marked, text)
    if text is None or not stats.marked.alive & _NUMBER_KINDS:
        stats.alive.discard("marked")
        stats.marked = None


def _accumulate_bool(stats: ColumnStats, values: pa.Array) -> None:
    """Every value, lowercased, one of the words (one compiled pass); 0/1 alone do not
    make a bool column, a word must appear too."""
    every, words = _native.bool_words(column_buffers(values), YES_WORDS, NO_WORDS, None)
    if not every:
        stats.alive.discard("bool")
    elif words:
        stats.bool_words = True


def _accumulate_day_month(stats: ColumnStats, values: pa.Array, sep: str, with_time: bool) -> None:
    name = f"dmt{sep}" if with_time else f"dm{sep}"
    fixed = None if with_time else day_month_facts(values, sep)
    if fixed is not None:
        first_max, second_max, day_first, month_first = fixed
        maxima = stats.dm_max.setdefault(name, [0, 0])
        maxima[0], maxima[1] = max(maxima[0], first_max), max(maxima[1], second_max)
        valid = stats.dm_valid.setdefault(name, [True, True])
        valid[0], valid[1] = valid[0] and day_first, valid[1] and month_first
        if not any(valid):
            stats.alive.discard(name)
        return
    if dm_parts(_probe(values), sep, with_time).null_count:
        stats.alive.discard(name)
        return
    parts = dm_parts(values, sep, with_time)
    if parts.null_count:
        stats.alive.discard(name)
        return
    if (
        not stats.short_years
        and pc.any(pc.equal(pc.utf8_length(pc.struct_field(parts, "y")), 2)).as_py()
    ):
        stats.short_years = True
    first = pc.max(pc.cast(pc.struct_field(parts, "a"), pa.int32())).as_py()
    second = pc.max(pc.cast(pc.struct_field(parts, "b"), pa.int32())).as_py()
    maxima = stats.dm_max.setdefault(name, [0, 0])
    maxima[0], maxima[1] = max(maxima[0], first), max(maxima[1], second)
    valid = stats.dm_valid.setdefault(name, [True, True])
    target = pa.timestamp("us") if with_time else pa.date32()
    for i, day_first in enumerate((True, False)):
        if valid[i]:
            valid[i] = _casts(iso_from_parts(parts, day_first, with_time), target)
    if not any(valid):
        stats.alive.discard(name)


def _accumulate_timestamp(stats: ColumnStats, values: pa.Array) -> None:
    # Offset-free values parse only as naive timestamps, values with an offset only
    # with a time zone, so a batch mixing both fails both and kills the candidate.
    if _casts(values, pa.timestamp("us")):
        stats.ts_without_offset += len(values)
    elif _casts(values, pa.timestamp("us", "UTC")):
        stats.ts_with_offset += len(values)
    else:
        stats.alive.discard("timestamp")
        return
    if stats.ts_with_offset and stats.ts_without_offset:
        # Mixing local and offset times has no single honest type.
        stats.alive.discard("timestamp")


def _number_type(stats: ColumnStats, fmt: str) -> ColumnType:
    """float64 when it holds every value exactly, else an exact decimal, else text."""
    if stats.max_digits <= FLOAT_DIGITS:
        return ColumnType(Kind.FLOAT, fmt, scale=stats.max_scale)
    # Values up to FLOAT_DIGITS bytes long were not measured: allow as many digits.
    integer_digits = max(stats.max_int_digits, FLOAT_DIGITS)
    scale = max(stats.max_scale, stats.any_scale)
    precision = integer_digits + scale + (2 if fmt.startswith("percent") else 0)
    if stats.has_exponent or precision > MAX_DECIMAL_DIGITS:
        return STRING
    return ColumnType(Kind.DECIMAL, fmt, precision=max(precision, 1), scale=scale)


def decide_type(stats: ColumnStats, decimal_comma_hint: bool = False) -> ColumnType:
    """The narrowest type every value allowed.

    ``decimal_comma_hint`` settles columns where every value reads both ways (only
    "1,234"-like values): ";"-separated files are usually Brazilian/European.
    """
    alive = stats.alive
    if stats.values == 0:
        return STRING
    if "int" in alive:
        return ColumnType(Kind.INT, "plain")
    grouped, comma = "grouped" in alive, "decimal_comma" in alive
    if "int_grouped" in alive and not (comma and decimal_comma_hint):
        return ColumnType(Kind.INT, "grouped")
    if "float" in alive:
        return _number_type(stats, "plain")
    if grouped and comma:
        return _number_type(stats, "decimal_comma" if decimal_comma_hint else "grouped")
    if grouped:
        return _number_type(stats, "grouped")
    if comma:
        return _number_type(stats, "decimal_comma")
    if "pct" in alive:
        return _number_type(stats, "percent")
    if "pct_comma" in alive:
        return _number_type(stats, "percent_comma")
    if "marked" in alive and stats.marked is not None and stats.marked.values:
        inner = decide_type(stats.marked, decimal_comma_hint)
        if inner.kind in (Kind.INT, Kind.FLOAT, Kind.DECIMAL):
            return ColumnType(
                inner.kind, MARKED + inner.fmt, precision=inner.precision, scale=inner.scale
            )
    if "bool" in alive and stats.bool_words:
        return ColumnType(Kind.BOOL)
    if "date_iso" in alive:
        return ColumnType(Kind.DATE, "iso")
    for sep in DATE_SEPARATORS:
        chosen = _day_month_order(stats, f"dm{sep}")
        if chosen:
            return ColumnType(Kind.DATE, f"{chosen}{sep}")
    if "ymd/" in alive:
        return ColumnType(Kind.DATE, "ymd/")
    if "date_named" in alive:
        return ColumnType(Kind.DATE, "named")
    if "timestamp" in alive:
        return ColumnType(Kind.TIMESTAMP, "utc" if stats.ts_with_offset else "naive")
    if "ymdt/" in alive:
        return ColumnType(Kind.TIMESTAMP, "ymd/ time")
    for sep in DATE_SEPARATORS:
        chosen = _day_month_order(stats, f"dmt{sep}")
        if chosen:
            return ColumnType(Kind.TIMESTAMP, f"{chosen}{sep} time")
    return STRING


def _day_month_order(stats: ColumnStats, name: str) -> str | None:
    if name not in stats.alive:
        return None
    first, second = stats.dm_max[name]
    day_first_ok, month_first_ok = stats.dm_valid[name]
    # Only a field above 12 proves which one is the day; otherwise it is ambiguous.
    if day_first_ok and first > 12:
        return "dmy"
    if month_first_ok and second > 12:
        return "mdy"
    return None


def type_notes(stats: ColumnStats, chosen: ColumnType) -> list[str]:
    """Plain-words reasons why a column stayed text, or what its type assumed."""
    notes: list[str] = []
    if chosen.kind is Kind.STRING and stats.values:
        for name in sorted(stats.alive & (_FAMILIES["date"] | _FAMILIES["timestamp"])):
            if name.startswith("dm") and _day_month_order(stats, name) is None:
                sep = name[-1]
                notes.append(
                    f"every value is a date like 01{sep}02{sep}2023, but no day above 12 "
                    f"shows whether it is dd{sep}mm or mm{sep}dd: kept as text"
                )
                break
        if stats.alive & _NUMBER_KINDS and stats.max_digits > FLOAT_DIGITS:
            notes.append(
                f"numbers with {stats.max_digits} digits do not fit a float or a "
                f"{MAX_DECIMAL_DIGITS}-digit decimal exactly: kept as text"
            )
        if "timestamp" not in stats.alive and stats.ts_with_offset and stats.ts_without_offset:
            notes.append("some date-times have a time zone offset and others do not: kept as text")
        miss = stats.near_miss
        if miss is not None:
            shown = ", ".join(
                f"{value!r}" + (f" (line {line})" if line is not None else "")
                for value, line in miss.examples
            )
            notes.append(
                f"{miss.matched} of {stats.values} values are {_FAMILY_NAMES[miss.family]}, "
                f"but not {shown}: kept as text (if they mean no value, add them to "
                f"null_tokens)"
            )
    if chosen.fmt.startswith(MARKED):
        notes.append(f"numbers written with marks: {stats.marks.describe()}")
    if chosen.kind in (Kind.DATE, Kind.TIMESTAMP) and stats.short_years:
        pivot = pivot_year()
        notes.append(
            f"two-digit years read as 00-{pivot:02d} -> 20xx and {pivot + 1:02d}-99 -> 19xx"
        )
    if chosen.kind is Kind.DECIMAL:
        notes.append(
            f"values have up to {stats.max_digits} digits, more than a float holds exactly: "
            f"stored as decimal({chosen.precision}, {chosen.scale})"
        )
    return notes


def counterexamples(stats: ColumnStats) -> list[dict[str, object]]:
    miss = stats.near_miss
    if miss is None:
        return []
    return [{"value": value, "line": line} for value, line in miss.examples]
