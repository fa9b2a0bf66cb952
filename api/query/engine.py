"""Runs a query against one dataset's Parquet object: a page of rows, or every row in order.

The result of a query is the file's rows that match every filter, in file order or in
the stable sort order. Positions in that sequence are what `offset` and cursors count.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from .filters import Filter, Verdict, evaluate, filter_columns
from .plan import GroupPlan, locate, plan_groups
from .sort import ROW, SortKey, order_positions, order_rows, row_numbers
from .source import Source

# Up to this many leading positions, a sorted page selects the top k instead of sorting all.
TOPK_MAX = 100_000
# Bounds of the caches this module uses (QueryCaches.orders and .counts).
ORDER_CACHE_BYTES = 128 * 1024 * 1024
COUNT_CACHE_ENTRIES = 4096


@dataclass(frozen=True)
class Query:
    filters: Sequence[Filter] = ()
    sort: Sequence[SortKey] = ()
    columns: Sequence[str] = field(default_factory=list)

    def filter_key(self) -> tuple[str, ...]:
        return tuple(sorted(f.canonical() for f in self.filters))

    def sort_key(self) -> tuple[str, ...]:
        return tuple(k.canonical() for k in self.sort)


@dataclass(frozen=True)
class Order:
    rows: pa.Array  # global row indices in sort order; a prefix unless complete
    complete: bool
    total: int


def _matching(source: Source, query: Query, plan: GroupPlan) -> pa.Array:
    """Indices within a group of its rows that match (groups with verdict SOME)."""
    table = source.read_group(plan.index, filter_columns(query.filters))
    indices = pc.indices_nonzero(evaluate(query.filters, table))
    return indices.combine_chunks() if isinstance(indices, pa.ChunkedArray) else indices


def match_counts(source: Source, query: Query) -> tuple[list[GroupPlan], tuple[int, ...]]:
    plans = plan_groups(source.footer, query.filters)
    if not query.filters:
        return plans, source.footer.group_rows

    def count() -> tuple[int, ...]:
        out = []
        for p in plans:
            if p.verdict is Verdict.NONE:
                out.append(0)
            elif p.verdict is Verdict.ALL:
                out.append(p.rows)
            else:
                out.append(len(_matching(source, query, p)))
        return tuple(out)

    key = (source.footer.identity, query.filter_key())
    return plans, source.caches.counts.get_or_load(key, count)


def _page_unsorted(source: Source, query: Query, offset: int, limit: int) -> tuple[pa.Table, int]:
    plans, counts = match_counts(source, query)
    pieces = []
    for g, lo, hi in locate(counts, offset, offset + limit):
        plan = plans[g]
        if plan.verdict is Verdict.ALL:
            pieces.append(source.read_prefix(g, query.columns, lo, hi))
        else:
            wanted = _matching(source, query, plan)[lo:hi]
            first, last = pc.min(wanted).as_py(), pc.max(wanted).as_py()
            rows = source.read_prefix(g, query.columns, first, last + 1)
            pieces.append(rows.take(pc.subtract(wanted, first)))
    return _concat(source, query.columns, pieces), sum(counts)


def _concat(source: Source, columns: Sequence[str], pieces: list[pa.Table]) -> pa.Table:
    if not pieces:
        return source.schema.empty_table().select(list(columns))
    return pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]


def _sort_parts(source: Source, query: Query) -> Iterator[pa.Table]:
    """(sort keys..., ROW) for the matching rows, one row group at a time."""
    keys = [k.column for k in query.sort]
    needed = list(dict.fromkeys([*keys, *filter_columns(query.filters)]))
    for plan in plan_groups(source.footer, query.filters):
        if plan.verdict is Verdict.NONE:
            continue
        table = source.read_group(plan.index, needed)
        table = table.append_column(ROW, row_numbers(plan.start, plan.rows))
        if plan.verdict is Verdict.SOME:
            table = table.filter(evaluate(query.filters, table))
        yield table.select([*keys, ROW])


def _empty_sort_input(source: Source, query: Query) -> pa.Table:
    fields = {k.column: pa.array([], source.schema.field(k.column).type) for k in query.sort}
    return pa.table({**fields, ROW: row_numbers(0, 0)})


def sorted_order(source: Source, query: Query, need: int | None) -> Order:
    """The first `need` row indices of the sort order (all of them for None).

    Up to TOPK_MAX, the leading rows are kept group by group (top k of the group plus
    the running top k), so memory stays at k rows whatever the file and the width of
    the sort keys; past it, the keys of every matching row are sorted at once.
    """
    key = (source.footer.identity, query.filter_key(), query.sort_key())
    cached = source.caches.orders.get(key)
    if cached is not None and (cached.complete or (need is not None and need <= len(cached.rows))):
        return cached
    top = need if need is not None and need <= TOPK_MAX else None
    if top is None:
        parts = list(_sort_parts(source, query))
        table = pa.concat_tables(parts) if parts else _empty_sort_input(source, query)
        total = table.num_rows
        rows = order_rows(table, query.sort, None)
    else:
        total = 0
        running = _empty_sort_input(source, query)
        for part in _sort_parts(source, query):
            total += part.num_rows
            best = part.take(order_positions(part, query.sort, top))
            running = pa.concat_tables([running, best])
            running = running.take(order_positions(running, query.sort, top))
        rows = running.column(ROW).combine_chunks()
    order = Order(rows=rows, complete=top is None or top >= total, total=total)
    source.caches.orders.put(key, order)
    return order


def _group_of(source: Source, rows: pa.Array) -> Iterator[tuple[int, pa.Array, pa.Array]]:
    """(group, local row indices, their positions in `rows`) for each group `rows` touch.

    One pass over `rows` per row group, with masks of a bit per row: no second array the
    size of `rows` is ever built.
    """
    for g, (start, n) in enumerate(
        zip(source.footer.group_starts, source.footer.group_rows, strict=True)
    ):
        inside = pc.and_(pc.greater_equal(rows, start), pc.less(rows, start + n))
        positions = pc.indices_nonzero(inside)
        if len(positions) == 0:
            continue
        yield g, pc.subtract(pc.filter(rows, inside), start), positions


def fetch_rows(source: Source, rows: pa.Array, columns: Sequence[str]) -> pa.Table:
    """The rows at these global indices, in the given order.

    Row groups are decoded only around the rows needed and not cached: scattered rows
    would otherwise flood the cache that sequential paging relies on.
    """
    if len(rows) == 0:
        return source.schema.empty_table().select(list(columns))
    parts = list(_group_of(source, rows))

    def one(part: tuple[int, pa.Array, pa.Array]) -> pa.Table:
        g, local, _ = part
        first, last = pc.min(local).as_py(), pc.max(local).as_py()
        with source.fork() as own:
            return own.read_rows(g, columns, first, last + 1).take(pc.subtract(local, first))

    tables = list(source.caches.fetch_pool.map(one, parts))
    table = pa.concat_tables(tables)
    positions = pa.concat_arrays([p for _, _, p in parts])
    return table.take(pc.sort_indices(positions))


def page(source: Source, query: Query, offset: int, limit: int) -> tuple[pa.Table, int]:
    """Rows [offset, offset+limit) of the result, and the number of rows in the result."""
    if not query.sort:
        return _page_unsorted(source, query, offset, limit)
    order = sorted_order(source, query, offset + limit)
    return fetch_rows(source, order.rows[offset : offset + limit], query.columns), order.total


EXPORT_BATCH_ROWS = 64 * 1024
# Rows of a sorted export held in memory at once (then written out in order).
SORTED_CHUNK_BYTES = 16 * 1024 * 1024
MAX_SPILL_FILES = 512


def _scan(source: Source, query: Query) -> Iterator[pa.Table]:
    needed = list(dict.fromkeys([*query.columns, *filter_columns(query.filters)]))
    for plan in plan_groups(source.footer, query.filters):
        if plan.verdict is Verdict.NONE:
            continue
        batches = source.parquet.iter_batches(
            batch_size=EXPORT_BATCH_ROWS, row_groups=[plan.index], columns=needed
        )
        for batch in batches:
            table = pa.Table.from_batches([batch])
            if plan.verdict is Verdict.SOME:
                table = table.filter(evaluate(query.filters, table))
            if table.num_rows:
                yield table.select(list(query.columns))


def _chunk_rows(source: Source, columns: Sequence[str]) -> int:
    """How many rows of these columns fit SORTED_CHUNK_BYTES, from the footer's sizes."""
    meta = source.footer.metadata
    total_bytes = 0
    for g in range(meta.num_row_groups):
        row_group = meta.row_group(g)
        for c in columns:
            total_bytes += row_group.column(source.footer.column_index[c]).total_uncompressed_size
    per_row = max(total_bytes // max(source.footer.num_rows, 1), 1)
    return max(SORTED_CHUNK_BYTES // per_row, EXPORT_BATCH_ROWS)


def _sorted_scan(source: Source, query: Query) -> Iterator[pa.Table]:
    """Every matching row in sort order, holding about one chunk of rows in memory.

    The order (row indices only) is computed from the sort-key columns. When the rows
    fit in one chunk they are fetched directly. Otherwise each row group is read once,
    its rows are appended to the spill file of the output chunk they belong to, and the
    spill files are then emitted one by one, each sorted by output position.
    """
    order = sorted_order(source, query, None).rows
    chunk = _chunk_rows(source, query.columns)
    if len(order) <= chunk:
        table = fetch_rows(source, order, query.columns)
        yield from (
            table.slice(i, EXPORT_BATCH_ROWS) for i in range(0, len(table), EXPORT_BATCH_ROWS)
        )
        return
    chunk = max(chunk, -(-len(order) // MAX_SPILL_FILES))
    with tempfile.TemporaryDirectory(prefix="mini-export-") as tmp:
        writers: dict[int, pa.ipc.RecordBatchFileWriter] = {}
        options = pa.ipc.IpcWriteOptions(compression="lz4")
        try:
            for g, local, out_pos in _group_of(source, order):
                table = source.parquet.read_row_group(g, columns=list(query.columns)).take(local)
                table = table.append_column(ROW, pc.cast(out_pos, pa.int64()))
                chunk_of = pc.divide(table.column(ROW), chunk)
                for c in pc.unique(chunk_of).to_pylist():
                    part = table.filter(pc.equal(chunk_of, c))
                    if c not in writers:
                        path = os.path.join(tmp, f"{c}.arrow")
                        writers[c] = pa.ipc.new_file(path, part.schema, options=options)
                    writers[c].write_table(part)
                del table, chunk_of
        finally:
            for w in writers.values():
                w.close()
        del order
        for c in sorted(writers):
            with pa.memory_map(os.path.join(tmp, f"{c}.arrow")) as mm:
                part = pa.ipc.open_file(mm).read_all()
            part = part.take(pc.sort_indices(part.column(ROW))).drop_columns([ROW])
            for i in range(0, len(part), EXPORT_BATCH_ROWS):
                yield part.slice(i, EXPORT_BATCH_ROWS)


def scan(source: Source, query: Query) -> Iterator[pa.Table]:
    """Every row of the result, in order, a batch at a time."""
    if query.sort:
        yield from _sorted_scan(source, query)
    else:
        yield from _scan(source, query)
