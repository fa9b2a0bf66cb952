"""Column type inference over the whole file.

Each column keeps a :class:`ColumnStats` that every batch updates (:func:`accumulate`);
:func:`decide_type` then picks a type from the stats alone. A candidate type survives
only while *every* non-null value seen so far parses as that type, so the first block
never decides on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import pyarrow as pa
import pyarrow.compute as pc


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

# RE2 syntax (pyarrow). Leading zeros are excluded on purpose: "007" and "01310-100"
# are identifiers and must stay text, and so must every value of their column.
INT_RE = r"^-?(?:0|[1-9][0-9]*)$"
FLOAT_RE = r"^-?(?:(?:0|[1-9][0-9]*)(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
GROUPED_RE = r"^-?(?:[1-9][0-9]{0,2}(?:,[0-9]{3})+|0|[1-9][0-9]*)(?:\.[0-9]+)?$"
DECIMAL_COMMA_RE = r"^-?(?:[1-9][0-9]{0,2}(?:\.[0-9]{3})+|0|[1-9][0-9]*)(?:,[0-9]+)?$"
ISO_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIME = r"[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?"
_OFFSET = r"(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)"
TIMESTAMP_RE = rf"^[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}(?:{_TIME}{_OFFSET}?)?$"
OFFSET_RE = rf"{_TIME}{_OFFSET}$"
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
_NUMBER_RES = {"float": FLOAT_RE, "grouped": GROUPED_RE, "decimal_comma": DECIMAL_COMMA_RE}
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


def _all(mask: pa.Array) -> bool:
    return bool(pc.all(mask).as_py() is not False)


def _casts(values: pa.Array, target: pa.DataType) -> bool:
    try:
        pc.cast(values, target)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


def dm_to_iso(values: pa.Array, sep: str, day_first: bool) -> pa.Array:
    """"d/m/yyyy" (or m/d) strings to "yyyy-mm-dd"; non-matching values become null."""
    parts = pc.extract_regex(values, day_month_re(sep))
    a, b, y = (pc.struct_field(parts, name) for name in ("a", "b", "y"))
    day, month = (a, b) if day_first else (b, a)
    return pc.binary_join_element_wise(
        y, pc.utf8_lpad(month, 2, "0"), pc.utf8_lpad(day, 2, "0"), "-"
    )


def accumulate(stats: ColumnStats, values: pa.Array) -> None:
    """Fold one batch of cleaned values (trimmed, null tokens already null) into stats."""
    nulls = values.null_count
    stats.nulls += nulls
    stats.values += len(values) - nulls
    if len(values) == nulls:
        return
    alive = stats.alive
    rest = values  # values not yet explained by a narrower number type
    if "int" in alive:
        is_int = pc.match_substring_regex(values, INT_RE)
        if _all(is_int):
            rest = None
            # 19+ digits may overflow int64; such "numbers" are identifiers, so text.
            if pc.max(pc.binary_length(values)).as_py() >= 19 and not _casts(values, pa.int64()):
                alive -= {"int", *_NUMBER_CANDIDATES}
        else:
            alive.discard("int")
            rest = pc.filter(values, pc.invert(pc.fill_null(is_int, True)))
    if rest is not None:
        for name in _NUMBER_CANDIDATES:
            if name in alive and not _all(pc.match_substring_regex(rest, _NUMBER_RES[name])):
                alive.discard(name)
    if "bool" in alive and not _all(pc.is_in(pc.utf8_lower(values), value_set=_BOOL_SET)):
        alive.discard("bool")
    if "date_iso" in alive and not (
        _all(pc.match_substring_regex(values, ISO_DATE_RE)) and _casts(values, pa.date32())
    ):
        alive.discard("date_iso")
    for sep in DATE_SEPARATORS:
        if f"dm{sep}" in alive:
            _accumulate_day_month(stats, values, sep)
    if "timestamp" in alive:
        _accumulate_timestamp(stats, values)


def _accumulate_day_month(stats: ColumnStats, values: pa.Array, sep: str) -> None:
    name = f"dm{sep}"
    parts = pc.extract_regex(values, day_month_re(sep))
    if parts.null_count != values.null_count:
        stats.alive.discard(name)
        return
    first = pc.max(pc.cast(pc.struct_field(parts, "a"), pa.int32())).as_py()
    second = pc.max(pc.cast(pc.struct_field(parts, "b"), pa.int32())).as_py()
    maxima = stats.dm_max.setdefault(name, [0, 0])
    maxima[0], maxima[1] = max(maxima[0], first), max(maxima[1], second)
    valid = stats.dm_valid.setdefault(name, [True, True])
    for i, day_first in enumerate((True, False)):
        if valid[i]:
            valid[i] = _casts(dm_to_iso(values, sep, day_first), pa.date32())
    if not any(valid):
        stats.alive.discard(name)


def _accumulate_timestamp(stats: ColumnStats, values: pa.Array) -> None:
    if not _all(pc.match_substring_regex(values, TIMESTAMP_RE)):
        stats.alive.discard("timestamp")
        return
    present = len(values) - values.null_count
    with_offset = int(pc.sum(pc.match_substring_regex(values, OFFSET_RE)).as_py() or 0)
    stats.ts_with_offset += with_offset
    stats.ts_without_offset += present - with_offset
    if stats.ts_with_offset and stats.ts_without_offset:
        # Mixing local and offset times has no single honest type.
        stats.alive.discard("timestamp")
        return
    target = pa.timestamp("us", "UTC") if with_offset else pa.timestamp("us")
    if not _casts(values, target):
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
