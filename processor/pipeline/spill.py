"""Batches parked on local disk between passes (Arrow IPC stream files).

The CSV is parsed once: pass 1 spills the cleaned strings, pass 2 reads them back to
convert them and spills the typed values, pass 3 reads those to drop duplicates and
write Parquet. Uncompressed IPC is written and read at memory speed from the page
cache; the kernel, not this process, holds those pages, so the RSS stays flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.ipc as ipc

from .stage import Consumer


class SpillWriter:
    """Appends batches to ``path`` from a background thread."""

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        self.path = path
        self.rows = 0
        self.batches = 0
        self._file = pa.OSFile(str(path), "wb")
        self._writer = ipc.new_stream(self._file, schema)
        self._worker: Consumer[pa.RecordBatch] = Consumer(self._writer.write_batch, name="spill")

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self.rows += batch.num_rows
            self.batches += 1
            self._worker.put(batch)

    def close(self) -> None:
        self._worker.close()
        self._writer.close()
        self._file.close()

    def abort(self) -> None:
        self._worker.abandon()
        try:
            self._writer.close()
        finally:
            self._file.close()


def read_spill(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.OSFile(str(path), "rb") as source:
        yield from ipc.open_stream(source)
