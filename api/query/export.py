"""Result batches as CSV, JSON Lines or Parquet bytes, produced as they are written.

Each writer writes into a small in-memory sink that is drained after every batch, so
memory stays at about one batch whatever the size of the download.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .render import rows

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_START = r"^[=+\-@\t\r]"
MEDIA_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "jsonl": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
}


class _Sink:
    """A write-only file object whose bytes are taken out after each write."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self.closed = False
        self._size = 0

    def write(self, data: Any) -> int:
        chunk = bytes(data)
        self._parts.append(chunk)
        self._size += len(chunk)
        return len(chunk)

    def tell(self) -> int:
        return self._size

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def drain(self) -> bytes:
        out = b"".join(self._parts)
        self._parts.clear()
        return out


def neutralise_formulas(table: pa.Table) -> pa.Table:
    """Prefix text cells that a spreadsheet would run with `'`.

    Only text columns: a typed number such as -5 cannot carry a formula, and quoting it
    would turn it into text. The stored data is not touched; this is the CSV view.
    """
    for i, f in enumerate(table.schema):
        if not (pa.types.is_string(f.type) or pa.types.is_large_string(f.type)):
            continue
        column = table.column(i)
        risky = pc.fill_null(pc.match_substring_regex(column, FORMULA_START), False)
        if not pc.any(risky).as_py():
            continue
        quoted = pc.binary_join_element_wise("'", column, "")
        table = table.set_column(i, f, pc.if_else(risky, quoted, column))
    return table


def csv_chunks(batches: Iterable[pa.Table], schema: pa.Schema) -> Iterator[bytes]:
    sink = _Sink()
    with pacsv.CSVWriter(pa.PythonFile(sink, mode="w"), schema) as writer:
        yield sink.drain()  # the header, even for an empty result
        for table in batches:
            writer.write_table(neutralise_formulas(table))
            yield sink.drain()
    if tail := sink.drain():
        yield tail


def jsonl_chunks(batches: Iterable[pa.Table]) -> Iterator[bytes]:
    for table in batches:
        lines = [json.dumps(row, ensure_ascii=False, allow_nan=False) for row in rows(table)]
        yield ("\n".join(lines) + "\n").encode()


def parquet_chunks(batches: Iterable[pa.Table], schema: pa.Schema) -> Iterator[bytes]:
    sink = _Sink()
    with pq.ParquetWriter(pa.PythonFile(sink, mode="w"), schema, compression="zstd") as writer:
        for table in batches:
            writer.write_table(table)
            yield sink.drain()
    if tail := sink.drain():
        yield tail
