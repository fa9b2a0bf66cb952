"""Pure planning over a Parquet footer: which row groups a query must read, and where a
window of result positions falls among them. No I/O here, so tests can check decisions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .filters import ColumnStats, Filter, Verdict, filter_columns, group_verdict
from .footer_cache import Footer


@dataclass(frozen=True)
class GroupPlan:
    index: int
    start: int  # global index of the group's first row
    rows: int
    verdict: Verdict


def column_stats(row_group: Any, position: int) -> ColumnStats | None:
    chunk = row_group.column(position)
    if not chunk.is_stats_set:
        return None
    stats = chunk.statistics
    has_range = stats.has_min_max
    return ColumnStats(
        min=stats.min if has_range else None,
        max=stats.max if has_range else None,
        null_count=stats.null_count if stats.has_null_count else None,
        num_rows=row_group.num_rows,
    )


def plan_groups(footer: Footer, filters: Sequence[Filter]) -> list[GroupPlan]:
    """Every row group with its verdict: NONE is pruned, ALL needs no evaluation."""
    columns = filter_columns(filters)
    plans = []
    for g in range(footer.num_groups):
        verdict = Verdict.ALL
        if filters:
            row_group = footer.metadata.row_group(g)
            stats = {
                c: column_stats(row_group, footer.column_index[c])
                if c in footer.column_index
                else None
                for c in columns
            }
            verdict = group_verdict(filters, stats)
        plans.append(GroupPlan(g, footer.group_starts[g], footer.group_rows[g], verdict))
    return plans


def locate(counts: Sequence[int], start: int, stop: int) -> list[tuple[int, int, int]]:
    """Result positions [start, stop) as (group, first, end) ranges within each group's
    matching rows, given how many rows of each group match."""
    spans = []
    before = 0
    for g, n in enumerate(counts):
        after = before + n
        if n and after > start and before < stop:
            spans.append((g, max(start - before, 0), min(stop, after) - before))
        if after >= stop:
            break
        before = after
    return spans
