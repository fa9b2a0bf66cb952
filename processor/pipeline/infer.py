"""Column type inference over the whole file.

Each column keeps a :class:`ColumnStats` that every batch updates (:func:`accumulate`);
:func:`decide_type` then picks a type from the stats alone. A candidate type survives
only while *every* non-null value seen so far parses as that type, so the first block
never decides on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .strbuf import any_leading_zero, contains_any_byte, edge_bytes, lengths, only_bytes


class Kind(StrEnum):
    INT = "int"
    FLOAT = "float"
    BOOL = "bool"
    DATE = "date"
    TIMESTAMP = "timestamp"
    STRING = "string"


@dataclass(frozen=True)
class ColumnType:
    kind: Kind
    # int/float: "plain" | "grouped" (1,234.5) | "decimal_comma" (1.234,5)
    # date: "iso" | "dmy/" | "mdy/" (last char is the separator)
    # timestamp: "naive" | "utc" (offsets were present and are converted to UTC)
    fmt: str = ""

    @property
    def label(self) -> str:
        """Human-readable format, for the report."""
        return _FORMAT_LABELS.get(self.fmt, self.fmt) if self.fmt else ""


_FORMAT_LABELS = {
    "plain": "",
    "grouped": "1,234.56",
    "decimal_comma": "1.234,56",
    "iso": "yyyy-mm-dd",
    "naive": "ISO 8601",
    "utc": "ISO 8601 with offset, stored as UTC",
}
for _sep in "/-.":
    _FORMAT_LABELS[f"dmy{_sep}"] = f"dd{_sep}mm{_sep}yyyy"
    _FORMAT_LABELS[f"mdy{_sep}"] = f"mm{_sep}dd{_sep}yyyy"

STRING = ColumnType(Kind.STRING)

# What each candidate accepts (checked with pyarrow's strict parsers plus byte checks,
# or with these RE2 patterns where no parser exists):
#   int       -?(0|[1-9][0-9]*) fitting int64
#   float     the same with an optional fraction and exponent: "1.5", ".5", "5.", "1e-3"
#   grouped   "1,234.56"; decimal_comma "1.234,56" or "12,5"
#   date      yyyy-mm-dd, or d/m/yyyy (also with "-" or ".") once a day > 12 proves it
#   timestamp ISO 8601 date and time, all with an offset (stored UTC) or all without
# Leading zeros are excluded on purpose: "007" and "01310-100" are identifiers and
# must stay text, and so must every value of their column.
INT_RE = r"^-?(?:0|[1-9][0-9]*)$"
GROUPED_RE = r"^-?(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|0|[1-9][0-9]*)(?:\.[0-9]+)?$"
DECIMAL_COMMA_RE = r"^-?(?:[1-9][0-9]{0,2}(?:\.[0-9]{3})+|0|[1-9][0-9]*)(?:,[0-9]+)?$"
DATE_SEPARATORS = ("/", "-", ".")


def day_month_re(sep: str) -> str:
    s = "\\" + sep
    return rf"^(?P<a>[0-9]{{1,2}}){s}(?P<b>[0-9]{{1,2}}){s}(?P<y>[0-9]{{4}})$"


# Portuguese and English spellings; 0/1 are deliberately absent so such columns stay int.
TRUE_TOKENS = ("true", "yes", "sim", "s", "y")
FALSE_TOKENS = ("false", "no", "não", "nao", "n")
_BOOL_SET = pa.array(TRUE_TOKENS + FALSE_TOKENS)

# Numbers: int ⊂ every float format, so float checks only look at non-int values.
_NUMBER_CANDIDATES = ("float", "grouped", "decimal_comma")
_NUMBER_RES = {"grouped": GROUPED_RE, "decimal_comma": DECIMAL_COMMA_RE}
_NUMBER_KINDS = frozenset({"int", *_NUMBER_CANDIDATES})
ALL_CANDIDATES = frozenset(
    {"int", *_NUMBER_CANDIDATES, "bool", "date_iso", "timestamp"}
    | {f"dm{sep}" for sep in DATE_SEPARATORS}
)


@dataclass
class ColumnStats:
    """What a column's values allowed so far; mutated in place by :func:`accumulate`."""

    values: int = 0  # non-null
    nulls: int = 0
    alive: set[str] = field(default_factory=lambda: set(ALL_CANDIDATES))
    # For "dd/mm/yyyy" vs "mm/dd/yyyy", per separator: the largest first and second
    # field seen, and whether every value is a real date when read either way.
    dm_max: dict[str, list[int]] = field(default_factory=dict)
    dm_valid: dict[str, list[bool]] = field(default_factory=dict)
    ts_with_offset: int = 0
    ts_without_offset: int = 0


_PROBE = 64


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py() is not False)


def _any(mask: pa.Array) -> bool:
    return bool(pc.any(mask).as_py())


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


def _is_bool(values: pa.Array) -> bool:
    return all(
        _all(pc.is_in(pc.utf8_lower(part), value_set=_BOOL_SET))
        for part in (_probe(values), values)
    )


def is_int_batch(values: pa.Array) -> bool:
    # int64 parsing also takes "0x10" (hence the byte check) and "007" (a zero first).
    return (
        only_bytes(values, b"0123456789-")
        and _casts(values, pa.int64())
        and not any_leading_zero(values)
    )


def is_float_batch(values: pa.Array) -> bool:
    """Plain decimal or scientific notation without leading zeros; no nulls allowed."""
    # The byte check rules out what float parsing also takes: "inf", "nan", "Infinity".
    if not only_bytes(values, b"0123456789-+.eE"):
        return False
    parsed = _parse(values, pa.float64())
    # "1e999" parses as inf: storing that would silently lose the value.
    if parsed is None or not _all(pc.is_finite(parsed)):
        return False
    first, _, _ = edge_bytes(values)
    return not (any_leading_zero(values) or bool(np.any(first == ord("+"))))


def plain_floats_are_grouped(values: pa.Array) -> bool:
    """For values already known to be plain floats: do they also fit GROUPED_RE?
    Only exponents and bare dots (".5", "-.5", "5.") are in one and not the other."""
    if contains_any_byte(values, b"eE"):
        return False
    first, second, last = edge_bytes(values)
    dot, minus = ord("."), ord("-")
    bare = (first == dot) | ((first == minus) & (second == dot)) | (last == dot)
    return not bool(np.any(bare))


def dm_parts(values: pa.Array, sep: str) -> pa.Array:
    """Struct of the a, b and y fields of "a/b/yyyy"; null where a value does not match."""
    return pc.extract_regex(values, day_month_re(sep))


def iso_from_parts(parts: pa.Array, day_first: bool) -> pa.Array:
    a, b, y = (pc.struct_field(parts, name) for name in ("a", "b", "y"))
    day, month = (a, b) if day_first else (b, a)
    return pc.binary_join_element_wise(
        y, pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-"
    )


def dm_to_iso(values: pa.Array, sep: str, day_first: bool) -> pa.Array:
    """ "d/m/yyyy" (or m/d) strings to "yyyy-mm-dd"; non-matching values become null."""
    return iso_from_parts(dm_parts(values, sep), day_first)


def accumulate(stats: ColumnStats, values: pa.Array) -> None:
    """Fold one batch of cleaned values (trimmed, null tokens already null) into stats."""
    nulls = values.null_count
    stats.nulls += nulls
    stats.values += len(values) - nulls
    if len(values) == nulls:
        return
    values = pc.drop_null(values) if nulls else values
    alive = stats.alive
    if alive & _NUMBER_KINDS:
        _accumulate_numbers(alive, values)
    if "bool" in alive and not _is_bool(values):
        alive.discard("bool")
    iso_dates = "date_iso" in alive and _casts(values, pa.date32())
    if not iso_dates:
        alive.discard("date_iso")
    for sep in DATE_SEPARATORS:
        if f"dm{sep}" in alive:
            _accumulate_day_month(stats, values, sep)
    if iso_dates:
        # Dates are valid offset-free timestamps, so no need to parse them again.
        stats.ts_without_offset += len(values)
        if stats.ts_with_offset:
            alive.discard("timestamp")
    elif "timestamp" in alive:
        _accumulate_timestamp(stats, values)


def has_oversized_int(values: pa.Array) -> bool:
    """An integer too big for int64 is an identifier (card, barcode), so the column
    must stay text rather than become a lossy float."""
    sizes = lengths(values)
    if not sizes.size or sizes.max() < 19:
        return False
    long = values.filter(pa.array(sizes >= 19))
    ints = long.filter(pc.match_substring_regex(long, INT_RE))
    return len(ints) > 0 and not _casts(ints, pa.int64())


def _accumulate_numbers(alive: set[str], values: pa.Array) -> None:
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
    if "float" in alive:
        if is_float_batch(rest):
            if "grouped" in alive and not plain_floats_are_grouped(rest):
                alive.discard("grouped")
            if "decimal_comma" in alive and not _all(
                pc.match_substring_regex(rest, DECIMAL_COMMA_RE)
            ):
                alive.discard("decimal_comma")
            return
        alive.discard("float")
    for name in ("grouped", "decimal_comma"):
        if name in alive and not _all(pc.match_substring_regex(rest, _NUMBER_RES[name])):
            alive.discard(name)


def _accumulate_day_month(stats: ColumnStats, values: pa.Array, sep: str) -> None:
    name = f"dm{sep}"
    if dm_parts(_probe(values), sep).null_count:
        stats.alive.discard(name)
        return
    parts = dm_parts(values, sep)
    if parts.null_count:
        stats.alive.discard(name)
        return
    first = pc.max(pc.cast(pc.struct_field(parts, "a"), pa.int32())).as_py()
    second = pc.max(pc.cast(pc.struct_field(parts, "b"), pa.int32())).as_py()
    maxima = stats.dm_max.setdefault(name, [0, 0])
    maxima[0], maxima[1] = max(maxima[0], first), max(maxima[1], second)
    valid = stats.dm_valid.setdefault(name, [True, True])
    for i, day_first in enumerate((True, False)):
        if valid[i]:
            valid[i] = _casts(iso_from_parts(parts, day_first), pa.date32())
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
    if "float" in alive:
        return ColumnType(Kind.FLOAT, "plain")
    grouped, comma = "grouped" in alive, "decimal_comma" in alive
    if grouped and comma:
        return ColumnType(Kind.FLOAT, "decimal_comma" if decimal_comma_hint else "grouped")
    if grouped:
        return ColumnType(Kind.FLOAT, "grouped")
    if comma:
        return ColumnType(Kind.FLOAT, "decimal_comma")
    if "bool" in alive:
        return ColumnType(Kind.BOOL)
    if "date_iso" in alive:
        return ColumnType(Kind.DATE, "iso")
    for sep in DATE_SEPARATORS:
        name = f"dm{sep}"
        if name not in alive:
            continue
        first, second = stats.dm_max[name]
        day_first_ok, month_first_ok = stats.dm_valid[name]
        # Only a field above 12 proves which one is the day; otherwise it is ambiguous.
        if day_first_ok and first > 12:
            return ColumnType(Kind.DATE, f"dmy{sep}")
        if month_first_ok and second > 12:
            return ColumnType(Kind.DATE, f"mdy{sep}")
    if "timestamp" in alive:
        return ColumnType(Kind.TIMESTAMP, "utc" if stats.ts_with_offset else "naive")
    return STRING
