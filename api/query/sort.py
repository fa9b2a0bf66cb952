"""`?sort=col,-col2`: a stable order, ties broken by file row order, nulls last.

Only the sort-key columns (and filter columns) of the row groups that can match are
read. Each matching row becomes (keys..., row index); the row index as the last key
makes the order total, so it is the stable order whether it comes from a top-k
selection (the first pages) or from a full sort (deep pages, exports). The resulting
row indices are cached per query, so paging on does not sort again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from ..errors import Unprocessable

ROW = "__row"


@dataclass(frozen=True)
class SortKey:
    column: str
    descending: bool

    def canonical(self) -> str:
        return f"-{self.column}" if self.descending else self.column


def parse_sort(text: str | None, schema: pa.Schema) -> list[SortKey]:
    if not text:
        return []
    keys: list[SortKey] = []
    seen: set[str] = set()
    known = set(schema.names)  # `schema.names` is a new list on every access
    for part in (p.strip() for p in text.split(",")):
        if not part:
            raise Unprocessable(f"sort={text!r} has an empty column name")
        descending = part.startswith("-")
        name = part.lstrip("+-").strip()
        if name not in known:
            raise Unprocessable(f"unknown column {name!r} in sort")
        if name in seen:
            raise Unprocessable(f"column {name!r} appears twice in sort")
        seen.add(name)
        keys.append(SortKey(name, descending))
    return keys


def row_numbers(start: int, count: int) -> pa.Array:
    """start, start+1, ... as int64, without a Python loop."""
    if count == 0:
        return pa.array([], type=pa.int64())
    ones = pa.repeat(pa.scalar(1, pa.int64()), count)
    return pc.add(pc.cumulative_sum(ones), start - 1)


def _sort_keys(keys: Sequence[SortKey]) -> list[tuple[str, str]]:
    order = [(k.column, "descending" if k.descending else "ascending") for k in keys]
    return [*order, (ROW, "ascending")]


def order_positions(table: pa.Table, keys: Sequence[SortKey], need: int | None) -> pa.Array:
    """Positions in `table` of its rows in sort order: the first `need`, or all."""
    sort_keys = _sort_keys(keys)
    if need is not None and need < table.num_rows:
        top = pc.select_k_unstable(table, k=need, sort_keys=sort_keys)
        # select_k's ties come in any order; the ROW key makes this sort total.
        return top.take(pc.sort_indices(table.take(top), sort_keys=sort_keys))
    return pc.sort_indices(table, sort_keys=sort_keys)


def order_rows(table: pa.Table, keys: Sequence[SortKey], need: int | None) -> pa.Array:
    """Row indices (the ROW column) of `table` in sort order: the first `need`, or all."""
    rows = table.column(ROW).take(order_positions(table, keys, need))
    return rows.combine_chunks() if isinstance(rows, pa.ChunkedArray) else rows
