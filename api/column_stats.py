"""One column's shape for the UI's chart: a histogram (numbers, dates) or top values (text).

Computed with pyarrow.compute one row group at a time, so memory stays bounded
by a row group's column, not the file.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, OrderedDict
from threading import Lock
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import Unprocessable
from .limits import check_deadline
from .serving import column_type

# Past this many distinct values the text counter is pruned, and the counts
# become a lower bound: a column of unique ids must not grow memory without end.
MAX_TRACKED_VALUES = 100_000
KEEP_AFTER_PRUNE = 10_000
MAX_VALUE_CHARS = 200
STATS_CACHE_SIZE = 64

NUMERIC = {"int", "float", "decimal"}
TEMPORAL = {"date", "timestamp"}


def _numeric_view(column: pa.ChunkedArray | pa.Array, kind: str) -> pa.Array | pa.ChunkedArray:
    """Values as numbers on one axis: floats for numbers, int64 ticks for dates and times."""
    if kind == "date":
        return pc.cast(pc.cast(column, pa.date32()), pa.int32()).cast(pa.int64())
    if kind == "timestamp":
        return pc.cast(column, pa.int64())
    values = pc.cast(column, pa.float64())
    return pc.filter(values, pc.is_finite(values))


def _row_group_columns(parquet: pq.ParquetFile, name: str) -> Any:
    for i in range(parquet.metadata.num_row_groups):
        check_deadline()
        yield parquet.read_row_group(i, columns=[name]).column(0)


def _label(value: float, kind: str, arrow_type: pa.DataType) -> Any:
    """A bin edge in the column's own terms: ISO text for dates and times."""
    if kind == "date":
        return (dt.date(1970, 1, 1) + dt.timedelta(days=math.floor(value))).isoformat()
    if kind == "timestamp":
        unit = arrow_type.unit
        per_second = {"s": 1, "ms": 1_000, "us": 1_000_000, "ns": 1_000_000_000}[unit]
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC if arrow_type.tz else None)
        return (epoch + dt.timedelta(seconds=value / per_second)).isoformat()
    if kind == "int":
        return math.floor(value) if float(value).is_integer() else value
    return value


def _bin_end(i: int, bins: int, low: float, high: float, width: float, integral: bool) -> float:
    """Float bins are [start, end) with the last closed at max; whole-number bins are closed."""
    if i == bins - 1:
        return high
    return low + (i + 1) * width - (1 if integral else 0)


def _histogram(
    parquet: pq.ParquetFile, name: str, kind: str, arrow_type: pa.DataType, bins: int
) -> dict[str, Any]:
    low: float | None = None
    high: float | None = None
    count = 0
    for column in _row_group_columns(parquet, name):
        values = _numeric_view(column, kind)
        count += len(values) - values.null_count
        bounds = pc.min_max(values).as_py()
        if bounds["min"] is None:
            continue
        low = bounds["min"] if low is None else min(low, bounds["min"])
        high = bounds["max"] if high is None else max(high, bounds["max"])
    if low is None or high is None:
        return {"count": 0, "min": None, "max": None, "bins": []}
    span = high - low
    # Whole-number axes (ints, days) get whole-number bins, inclusive at both ends,
    # so a small range shows one bar per value.
    integral = kind in {"int", "date"}
    if integral:
        width = float(math.ceil((span + 1) / bins))
        bins = math.ceil((span + 1) / width)
    else:
        width = span / bins if span > 0 else 1.0
        bins = bins if span > 0 else 1
    counts = [0] * bins
    for column in _row_group_columns(parquet, name):
        values = pc.drop_null(_numeric_view(column, kind))
        if len(values) == 0:
            continue
        index = pc.floor(pc.divide(pc.subtract(pc.cast(values, pa.float64()), low), width))
        index = pc.min_element_wise(pc.cast(index, pa.int64()), bins - 1)
        for entry in pc.value_counts(index).to_pylist():
            counts[entry["values"]] += entry["counts"]
    return {
        "count": count,
        "min": _label(low, kind, arrow_type),
        "max": _label(high, kind, arrow_type),
        "bins": [
            {
                "start": _label(low + i * width, kind, arrow_type),
                "end": _label(_bin_end(i, bins, low, high, width, integral), kind, arrow_type),
                "count": n,
            }
            for i, n in enumerate(counts)
        ],
    }


def _top_values(parquet: pq.ParquetFile, name: str, top: int) -> dict[str, Any]:
    counter: Counter[Any] = Counter()
    exact = True
    count = 0
    for column in _row_group_columns(parquet, name):
        values = pc.drop_null(column)
        count += len(values)
        for entry in pc.value_counts(values).to_pylist():
            counter[entry["values"]] += entry["counts"]
        if len(counter) > MAX_TRACKED_VALUES:
            counter = Counter(dict(counter.most_common(KEEP_AFTER_PRUNE)))
            exact = False
    most = counter.most_common(top)
    shown = sum(n for _, n in most)

    def clip(value: Any) -> Any:
        if isinstance(value, str) and len(value) > MAX_VALUE_CHARS:
            return value[:MAX_VALUE_CHARS] + "…"
        return value

    return {
        "count": count,
        "distinct": len(counter),
        "exact": exact,
        "values": [{"value": clip(v), "count": n} for v, n in most],
        "other_count": count - shown,
    }


def column_stats(source: BinaryIO, name: str, *, bins: int, top: int) -> dict[str, Any]:
    parquet = pq.ParquetFile(source)
    schema = parquet.schema_arrow
    if name not in schema.names:
        raise Unprocessable(f"unknown column {name!r}")
    arrow_type = schema.field(name).type
    kind = column_type(arrow_type)
    rows = parquet.metadata.num_rows
    base = {"column": name, "type": kind, "rows": rows}
    if kind in NUMERIC or kind in TEMPORAL:
        shape = _histogram(parquet, name, kind, arrow_type, bins)
        return {**base, "chart": "histogram", "nulls": rows - shape["count"], **shape}
    shape = _top_values(parquet, name, top)
    return {**base, "chart": "top_values", "nulls": rows - shape["count"], **shape}


class StatsCache:
    """Answers per (version id, column, bins, top): a ready version never changes."""

    def __init__(self, size: int = STATS_CACHE_SIZE) -> None:
        self._size = size
        self._items: OrderedDict[tuple[Any, ...], dict[str, Any]] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: tuple[Any, ...]) -> dict[str, Any] | None:
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
                self.hits += 1
            else:
                self.misses += 1
            return value

    def put(self, key: tuple[Any, ...], value: dict[str, Any]) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._size:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
