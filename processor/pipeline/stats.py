"""Per-column facts for the report: nulls, min/max, distinct estimate, top values.

Computed on the typed output rows (after duplicates are gone), batch by batch, with
pyarrow kernels. Top values are exact for the first ``exact_rows`` rows and then come
from every ``sample_every``-th batch, which the report says; counting every value of
every column costs more than the rest of the pass.
"""

from __future__ import annotations

import datetime as dt
import decimal
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

TOP = 10
_MAX_TRACKED = 20_000


def json_value(value: Any) -> Any:
    """A typed value as JSON: dates and times in ISO 8601, decimals as exact strings."""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _smaller(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b < a) else a


def _larger(a: Any, b: Any) -> Any:
    return b if a is None or (b is not None and b > a) else a


@dataclass
class ColumnSummary:
    rows: int = 0
    nulls: int = 0
    minimum: Any = None
    maximum: Any = None
    counts: dict[Any, int] = field(default_factory=dict)
    counted_rows: int = 0
    track_top: bool = True

    def add(self, values: pa.Array, count_values: bool) -> None:
        self.rows += len(values)
        self.nulls += values.null_count
        if values.null_count == len(values):
            return
        extremes = pc.min_max(values)
        self.minimum = _smaller(self.minimum, extremes["min"].as_py())
        self.maximum = _larger(self.maximum, extremes["max"].as_py())
        if count_values and self.track_top:
            self._count(values)

    def _count(self, values: pa.Array) -> None:
        self.counted_rows += len(values) - values.null_count
        tally = pc.value_counts(values)
        counts = self.counts
        for value, count in zip(
            tally.field("values").to_pylist(), tally.field("counts").to_pylist(), strict=True
        ):
            if value is not None:
                counts[value] = counts.get(value, 0) + count
        if len(counts) > 2 * _MAX_TRACKED:
            # Keep the heavy hitters: a value pruned now can only have been rare.
            kept = sorted(counts.items(), key=lambda kv: kv[1], reverse=True)[:_MAX_TRACKED]
            self.counts = dict(kept)

    def top_values(self) -> list[dict[str, Any]]:
        ranked = sorted(self.counts.items(), key=lambda kv: (-kv[1], str(kv[0])))[:TOP]
        return [{"value": json_value(v), "count": c} for v, c in ranked]


class TableSummary:
    def __init__(
        self,
        columns: int,
        distinct: list[int],
        exact_rows: int = 1_000_000,
        sample_every: int = 8,
    ) -> None:
        self.columns = [ColumnSummary() for _ in range(columns)]
        self._exact_rows = exact_rows
        self._sample_every = sample_every
        self._batches = 0
        self.rows = 0
        self.sampled = False
        for summary, estimate in zip(self.columns, distinct, strict=True):
            # Mostly-distinct columns (ids, timestamps) have no meaningful top values.
            summary.track_top = estimate <= 100_000

    def add(self, columns: list[pa.Array]) -> None:
        count = self.rows < self._exact_rows or self._batches % self._sample_every == 0
        if not count:
            self.sampled = True
        for summary, values in zip(self.columns, columns, strict=True):
            summary.add(values, count)
        self.rows += len(columns[0]) if columns else 0
        self._batches += 1
