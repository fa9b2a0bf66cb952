"""Filters from the query string: typed by the column, decided per row group from Parquet
statistics where possible, evaluated on Arrow arrays otherwise.

Null never matches a comparison (SQL semantics); only `__isnull` selects nulls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Unprocessable
from ..serving import column_type
from .values import parse_value, to_scalar

OPERATORS = ("eq", "ne", "gt", "gte", "lt", "lte", "in", "contains", "startswith", "isnull")
TEXT_OPERATORS = frozenset({"contains", "startswith"})
# A longer list is a query that belongs in a file, not a URL (422, before any parsing).
MAX_IN_VALUES = 1000
# Statistics bound these types exactly: a verdict of "every row matches" is safe for them.
# Floats may hide NaN (excluded from min/max) and text bounds may be truncated.
_EXACT_KINDS = frozenset({"int", "decimal", "date", "timestamp", "bool"})


class Verdict(Enum):
    NONE = "none"  # no row of the group can match: skip it unread
    SOME = "some"  # read the filter columns and evaluate
    ALL = "all"  # every row matches: count it without reading


@dataclass(frozen=True)
class Filter:
    column: str
    op: str
    value: Any  # typed; a tuple for `in`, a bool for `isnull`
    arrow_type: pa.DataType

    def canonical(self) -> str:
        return f"{self.column}__{self.op}={self.value!r}"


@dataclass(frozen=True)
class ColumnStats:
    """What a row group's footer says about one column; None where it says nothing."""

    min: Any
    max: Any
    null_count: int | None
    num_rows: int


def _split(key: str, names: set[str]) -> tuple[str, str]:
    if key in names:
        return key, "eq"
    column, sep, op = key.rpartition("__")
    if sep and column in names:
        if op not in OPERATORS:
            raise Unprocessable(
                f"unknown filter operator {op!r} for column {column!r}; "
                f"use one of {', '.join(OPERATORS)}"
            )
        return column, op
    raise Unprocessable(f"unknown column {(column if sep else key)!r} in filter {key!r}")


def parse_filters(params: Iterable[tuple[str, str]], schema: pa.Schema) -> list[Filter]:
    names = set(schema.names)
    filters = []
    for key, text in params:
        column, op = _split(key, names)
        arrow_type = schema.field(column).type
        kind = column_type(arrow_type)
        value: Any
        if op in TEXT_OPERATORS:
            if kind != "string":
                raise Unprocessable(f"__{op} needs a text column; {column!r} holds {kind} values")
            value = text
        elif op == "isnull":
            value = parse_value(f"{column}__isnull", pa.bool_(), text)
        elif op == "in":
            parts = text.split(",")
            if len(parts) > MAX_IN_VALUES:
                raise Unprocessable(
                    f"{column}__in has {len(parts)} values; at most {MAX_IN_VALUES} are allowed"
                )
            value = tuple(parse_value(column, arrow_type, part) for part in parts)
        else:
            value = parse_value(column, arrow_type, text)
        filters.append(Filter(column, op, value, arrow_type))
    return filters


def _range_verdict(f: Filter, s: ColumnStats, exact: bool) -> Verdict:
    lo, hi, v = s.min, s.max, f.value
    no_nulls = s.null_count == 0
    every = Verdict.ALL if exact and no_nulls else Verdict.SOME
    if f.op == "eq":
        if v < lo or v > hi:
            return Verdict.NONE
        return every if lo == hi == v else Verdict.SOME
    if f.op == "ne":
        if lo == hi == v and exact:
            return Verdict.NONE
        return every if v < lo or v > hi else Verdict.SOME
    if f.op == "gt":
        return Verdict.NONE if hi <= v else every if lo > v else Verdict.SOME
    if f.op == "gte":
        return Verdict.NONE if hi < v else every if lo >= v else Verdict.SOME
    if f.op == "lt":
        return Verdict.NONE if lo >= v else every if hi < v else Verdict.SOME
    if f.op == "lte":
        return Verdict.NONE if lo > v else every if hi <= v else Verdict.SOME
    if f.op == "in":
        if all(x < lo or x > hi for x in v):
            return Verdict.NONE
        return every if lo == hi and lo in v else Verdict.SOME
    if f.op == "startswith":
        if hi < v or (lo > v and not lo.startswith(v)):
            return Verdict.NONE
        return Verdict.SOME
    if f.op == "contains" and lo == hi and v not in lo:
        return Verdict.NONE
    return Verdict.SOME


def filter_verdict(f: Filter, s: ColumnStats | None) -> Verdict:
    if s is None:
        return Verdict.SOME
    if f.op == "isnull":
        if s.null_count is None:
            return Verdict.SOME
        nulls_wanted = bool(f.value)
        if s.null_count == 0:
            return Verdict.NONE if nulls_wanted else Verdict.ALL
        if s.null_count == s.num_rows:
            return Verdict.ALL if nulls_wanted else Verdict.NONE
        return Verdict.SOME
    if s.null_count is not None and s.null_count == s.num_rows:
        return Verdict.NONE
    if s.min is None or s.max is None:
        return Verdict.SOME
    try:
        return _range_verdict(f, s, column_type(f.arrow_type) in _EXACT_KINDS)
    except TypeError:
        # Statistics of an unexpected Python type: decide nothing from them.
        return Verdict.SOME


def group_verdict(filters: Sequence[Filter], stats: Mapping[str, ColumnStats | None]) -> Verdict:
    """Whether a row group can be skipped, must be read, or matches whole (the planner)."""
    verdicts = [filter_verdict(f, stats.get(f.column)) for f in filters]
    if Verdict.NONE in verdicts:
        return Verdict.NONE
    if all(v is Verdict.ALL for v in verdicts):
        return Verdict.ALL
    return Verdict.SOME


def _one_mask(f: Filter, column: pa.ChunkedArray | pa.Array) -> Any:
    if f.op == "isnull":
        return pc.is_null(column) if f.value else pc.is_valid(column)
    if f.op == "contains":
        return pc.match_substring(column, f.value)
    if f.op == "startswith":
        return pc.starts_with(column, f.value)
    if f.op == "in":
        values = pa.array(list(f.value), type=f.arrow_type)
        return pc.is_in(column, value_set=values)
    scalar = to_scalar(f.value, f.arrow_type)
    compare = {
        "eq": pc.equal,
        "ne": pc.not_equal,
        "gt": pc.greater,
        "gte": pc.greater_equal,
        "lt": pc.less,
        "lte": pc.less_equal,
    }[f.op]
    return compare(column, scalar)


def evaluate(filters: Sequence[Filter], table: pa.Table) -> pa.ChunkedArray | pa.Array:
    """A boolean mask with no nulls: True where every filter matches."""
    mask: Any = None
    for f in filters:
        one = _one_mask(f, table.column(f.column))
        mask = one if mask is None else pc.and_kleene(mask, one)
    if mask is None:
        return pa.array([True] * table.num_rows, type=pa.bool_())
    return pc.fill_null(mask, False)


def filter_columns(filters: Sequence[Filter]) -> list[str]:
    return list(dict.fromkeys(f.column for f in filters))
