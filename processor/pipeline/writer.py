"""Parquet output: zstd, ~row_group_rows rows per row group, written atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from .stage import Consumer

METADATA_KEY = b"mini_pipeline"
# A row group is also flushed at this size so that very wide rows stay bounded.
_MAX_BUFFER_BYTES = 64 * 1024 * 1024


def output_schema(
    names: list[str], original_names: list[str], types: list[pa.DataType], extra: dict[str, Any]
) -> pa.Schema:
    fields = [
        pa.field(name, typ, nullable=True, metadata={b"original_name": original.encode()})
        for name, original, typ in zip(names, original_names, types, strict=True)
    ]
    meta = {"original_names": original_names, **extra}
    return pa.schema(fields, metadata={METADATA_KEY: json.dumps(meta).encode()})


def dictionary_columns(
    schema: pa.Schema, distinct: list[int] | None = None, row_group_rows: int = 100_000
) -> list[str]:
    """Dictionary pages pay off for text and dates that repeat within a row group.

    For numbers and timestamps, which rarely repeat, and for text with about as many
    distinct values as rows (ids, postcodes), pyarrow builds a dictionary, gives up
    and falls back: on the benchmark file that made writing ~25% slower (a postcode
    column alone 2.5x) and the file no smaller after zstd.
    """
    names = []
    for i, f in enumerate(schema):
        if not (pa.types.is_string(f.type) or pa.types.is_date(f.type)):
            continue
        if distinct is None or distinct[i] <= row_group_rows // 4:
            names.append(f.name)
    return names


class ParquetSink:
    """Buffers converted batches into row groups; the file appears only on ``commit``.

    Row groups are encoded and compressed by a background thread (pyarrow releases
    the GIL), so the next batches are prepared meanwhile.
    """

    def __init__(
        self,
        path: Path,
        schema: pa.Schema,
        row_group_rows: int,
        dictionary: list[str] | None = None,
    ) -> None:
        self.path = path
        self._tmp = path.with_name(f".{path.name}.partial")
        self._schema = schema
        self._row_group_rows = row_group_rows
        self._buffer: list[pa.RecordBatch] = []
        self._buffered_rows = 0
        self._buffered_bytes = 0
        self.rows = 0
        self.row_groups = 0
        self._writer = pq.ParquetWriter(
            self._tmp,
            schema,
            compression="zstd",
            use_dictionary=dictionary_columns(schema) if dictionary is None else dictionary,
            # Parquet DATE/TIMESTAMP logical types come from the Arrow types; keep them.
            coerce_timestamps="us",
            allow_truncated_timestamps=False,
        )
        self._worker: Consumer[pa.Table] = Consumer(self._write_group, name="parquet")

    def _write_group(self, table: pa.Table) -> None:
        # One write per group: every write_table call starts at least one row group.
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))

    def write(self, batch: pa.RecordBatch) -> None:
        """Buffer ``batch``; whole groups of ``row_group_rows`` rows go to the writer."""
        while batch.num_rows:
            room = self._row_group_rows - self._buffered_rows
            piece, batch = batch.slice(0, room), batch.slice(room)
            self._buffer.append(piece)
            self._buffered_rows += piece.num_rows
            self._buffered_bytes += piece.nbytes
            if (
                self._buffered_rows >= self._row_group_rows
                or self._buffered_bytes >= _MAX_BUFFER_BYTES
            ):
                self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_batches(self._buffer, schema=self._schema)
        self._buffer, self._buffered_rows, self._buffered_bytes = [], 0, 0
        self._worker.put(table)
        self.rows += table.num_rows
        self.row_groups += 1

    def commit(self) -> int:
        """Finish the file, move it into place and return its size in bytes."""
        self._flush()
        self._worker.close()
        self._writer.close()
        os.replace(self._tmp, self.path)
        return self.path.stat().st_size

    def abort(self) -> None:
        try:
            self._worker.abandon()
            self._writer.close()
        finally:
            self._tmp.unlink(missing_ok=True)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    os.replace(tmp, path)
