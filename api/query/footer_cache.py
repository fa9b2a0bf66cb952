"""Parsed Parquet footers, kept in process.

A ready dataset's objects never change (a reprocess is a new version with a new id),
so a footer is keyed by the dataset id and the object's identity (bucket, key, size)
and is never invalidated, only evicted.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import accumulate
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from .cache import LRUCache

# Footers of wide files with many row groups reach a few MB; this bounds the total.
FOOTER_CACHE_BYTES = 64 * 1024 * 1024

ObjectIdentity = tuple[str, str, str, int]


@dataclass(frozen=True)
class Footer:
    identity: ObjectIdentity
    metadata: Any  # pq.FileMetaData
    schema: pa.Schema
    group_rows: tuple[int, ...]
    group_starts: tuple[int, ...]  # global index of each group's first row
    column_index: dict[str, int]  # column name -> column chunk position
    num_rows: int
    size_bytes: int

    @property
    def num_groups(self) -> int:
        return len(self.group_rows)


def parse_footer(identity: ObjectIdentity, source: BinaryIO) -> Footer:
    parquet = pq.ParquetFile(source)
    meta = parquet.metadata
    rows = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    index: dict[str, int] = {}
    if meta.num_row_groups:
        first = meta.row_group(0)
        index = {first.column(i).path_in_schema: i for i in range(first.num_columns)}
    return Footer(
        identity=identity,
        metadata=meta,
        schema=parquet.schema_arrow,
        group_rows=rows,
        group_starts=(0, *accumulate(rows))[:-1] if rows else (),
        column_index=index,
        num_rows=meta.num_rows,
        # Decoded, a footer takes a few times its serialized size.
        size_bytes=4 * max(meta.serialized_size, 1),
    )


def footer_for(footers: LRUCache[Footer], identity: ObjectIdentity, source: BinaryIO) -> Footer:
    """The footer from the cache (QueryCaches.footers), parsed from `source` on a miss."""
    return footers.get_or_load(identity, lambda: parse_footer(identity, source))
