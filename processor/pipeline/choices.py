"""What the user chose about types, applied on top of inference: the decimal mark
(``decimal``), the order of day and month (``date_order``) and per-column types
(``types``). Inference (infer.py) stays as it is; these only pick among, or overrule,
what it found."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .errors import BadInput
from .infer import DATE_SEPARATORS, STRING, ColumnStats, ColumnType, Kind, decide_type
from .infer import _number_type as number_type
from .options import ProcessOptions
from .schema_change import Target

_COMMA_FORMATS = ("decimal_comma", "percent_comma")
_NUMBERS = (Kind.INT, Kind.FLOAT, Kind.DECIMAL)


def decide(stats: ColumnStats, hint: bool, options: ProcessOptions) -> tuple[ColumnType, str]:
    """The column's type with ``decimal`` and ``date_order`` applied, and a note when
    they changed what inference alone would decide ("" otherwise)."""
    decimal, order = options.decimal, options.date_order
    if decimal is not None:
        hint = decimal == ","
    ctype = decide_type(stats, decimal_comma_hint=hint)
    note = ""
    if decimal == "," and ctype.kind in _NUMBERS and ctype.fmt in ("grouped", "plain"):
        # "1.500" reads as 1500 and "1,234" as 1.234 when "," is the decimal mark.
        if "decimal_comma" in stats.alive and not (ctype.kind is Kind.INT and ctype.fmt == "plain"):
            ctype = number_type(stats, "decimal_comma")
    elif decimal == "." and ctype.fmt in _COMMA_FORMATS:
        if "grouped" in stats.alive:
            ctype = number_type(stats, "grouped")
        else:
            ctype = STRING
            note = (
                "the values use ',' as the decimal mark, but decimal='.' was chosen: kept as text"
            )
    if order is not None:
        ctype, note = _with_date_order(stats, ctype, order, note)
    return ctype, note


def _with_date_order(
    stats: ColumnStats, ctype: ColumnType, order: str, note: str
) -> tuple[ColumnType, str]:
    day_month = ctype.kind in (Kind.DATE, Kind.TIMESTAMP) and ctype.fmt[:3] in ("dmy", "mdy")
    if day_month and ctype.fmt[:3] != order:
        return STRING, f"the dates are not {order} as date_order asks: kept as text"
    if ctype.kind is not Kind.STRING or order == "ymd":
        return ctype, note
    for sep in DATE_SEPARATORS:
        for name, kind, suffix in (
            (f"dm{sep}", Kind.DATE, ""),
            (f"dmt{sep}", Kind.TIMESTAMP, " time"),
        ):
            if name not in stats.alive or name not in stats.dm_valid:
                continue
            day_first_ok, month_first_ok = stats.dm_valid[name]
            if (order == "dmy" and day_first_ok) or (order == "mdy" and month_first_ok):
                return ColumnType(kind, f"{order}{sep}{suffix}"), f"read as {order} (date_order)"
    return ctype, note


@dataclass(frozen=True)
class Forced:
    """A type the user set for one input column."""

    column: int
    kind: Kind


def forced_columns(
    names: Sequence[str], originals: Sequence[str], types: Sequence[tuple[str, str]]
) -> list[Forced]:
    """Match each ``types`` entry to a column by its output name, else its header; a
    name that matches none fails the version, naming it and the columns there are."""
    out = []
    unknown = []
    for column, kind in types:
        if column in names:
            index = list(names).index(column)
        elif column in originals:
            index = list(originals).index(column)
        else:
            unknown.append(column)
            continue
        out.append(Forced(index, Kind(kind)))
    if unknown:
        listed = ", ".join(repr(n) for n in names[:20])
        raise BadInput(
            f"types names column(s) this file does not have: "
            f"{', '.join(repr(u) for u in unknown)}; its columns are {listed}"
        )
    return out


def forced_type(
    kind: Kind, inferred: ColumnType, stats: ColumnStats, options: ProcessOptions
) -> ColumnType:
    """How values are read when the user says the column is ``kind``."""
    if kind is Kind.STRING:
        return STRING
    if kind is inferred.kind:
        return inferred
    if kind in _NUMBERS:
        if inferred.kind in _NUMBERS and inferred.fmt:
            fmt = inferred.fmt
        else:
            fmt = "decimal_comma" if options.decimal == "," else "plain"
        if kind is Kind.INT:
            return ColumnType(Kind.INT, fmt if fmt in ("plain", "grouped") else "plain")
        if kind is Kind.FLOAT:
            return ColumnType(Kind.FLOAT, fmt)
        scale = max(stats.max_scale, stats.any_scale, inferred.scale)
        precision = min(38, max(stats.max_int_digits, 18) + scale)
        return ColumnType(Kind.DECIMAL, fmt, precision=precision, scale=scale)
    if kind is Kind.BOOL:
        return ColumnType(Kind.BOOL)
    order = options.date_order if options.date_order in ("dmy", "mdy") else None
    if kind is Kind.DATE:
        for sep in DATE_SEPARATORS:
            if f"dm{sep}" in stats.alive:
                return ColumnType(Kind.DATE, f"{order or _evidence(stats, f'dm{sep}')}{sep}")
        return ColumnType(Kind.DATE, "iso")
    for sep in DATE_SEPARATORS:
        if f"dmt{sep}" in stats.alive:
            chosen = order or _evidence(stats, f"dmt{sep}")
            return ColumnType(Kind.TIMESTAMP, f"{chosen}{sep} time")
    return ColumnType(Kind.TIMESTAMP, "utc" if stats.ts_with_offset else "naive")


def _evidence(stats: ColumnStats, name: str) -> str:
    first, second = stats.dm_max.get(name, [0, 0])
    return "mdy" if second > 12 and first <= 12 else "dmy"


def forced_target(
    kind: Kind, inferred: ColumnType, stats: ColumnStats, options: ProcessOptions
) -> Target:
    """The column read and stored as ``kind``; values that do not fit reject their row
    (checked), unless inference already vouched for every value."""
    parse = forced_type(kind, inferred, stats, options)
    checked = parse != inferred and parse.kind is not Kind.STRING
    return Target(parse, parse, checked=checked, how="forced")
