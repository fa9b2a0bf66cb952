"""Skipping the data pages before the wanted rows of a column chunk, without decoding them.

pyarrow decodes a column chunk from its first page, so a row in the middle of a
100,000-row group costs decompressing every page before it. Data page headers are
not compressed and give each page's row count, so the pages that end before the wanted
rows can be stood in for, in a view of the file (never on disk), by one tiny page of as
many null or zero values. pyarrow then decompresses that page and the wanted ones only.
The stand-in keeps every byte offset of the file: it is padded to the skipped pages'
length with a zstd skippable frame, whose content decompressors jump over.

Rows before the first kept page of any column come back as placeholders: callers slice
them off, and only ask for rows at or after `start`.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

# Thrift compact protocol type ids (parquet.thrift is encoded with it).
_TRUE, _FALSE, _I8, _I16, _I32, _I64, _DOUBLE, _BINARY = 1, 2, 3, 4, 5, 6, 7, 8
_LIST, _SET, _MAP, _STRUCT = 9, 10, 11, 12
# parquet.thrift enums
DATA_PAGE, DICTIONARY_PAGE, DATA_PAGE_V2 = 0, 2, 3
_PLAIN, _RLE = 0, 3
_ZSTD_SKIPPABLE_MAGIC = 0x184D2A50
_SKIPPABLE_HEADER = 8
# Bytes of value per row for the zero values of a REQUIRED column (PLAIN encoding).
_PLAIN_WIDTH = {"INT32": 4, "INT64": 8, "INT96": 12, "FLOAT": 4, "DOUBLE": 8, "BYTE_ARRAY": 4}

ReadAt = Callable[[int, int], bytes]  # (offset, length) -> bytes, shorter at end of file


class _Truncated(Exception):
    """The header runs past the bytes read so far."""


class _Compact:
    """Reads thrift compact-protocol structs into {field id: value}; lists are skipped."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            raise _Truncated
        b = self.data[self.pos]
        self.pos += 1
        return b

    def varint(self) -> int:
        shift = result = 0
        while True:
            b = self.byte()
            result |= (b & 0x7F) << shift
            if not b & 0x80:
                return result
            shift += 7

    def zigzag(self) -> int:
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def skip_bytes(self, n: int) -> None:
        if self.pos + n > len(self.data):
            raise _Truncated
        self.pos += n

    def value(self, kind: int) -> Any:
        if kind in (_TRUE, _FALSE):
            return kind == _TRUE
        if kind == _I8:
            return self.byte()
        if kind in (_I16, _I32, _I64):
            return self.zigzag()
        if kind == _DOUBLE:
            self.skip_bytes(8)
            return None
        if kind == _BINARY:
            self.skip_bytes(self.varint())
            return None
        if kind in (_LIST, _SET):
            head = self.byte()
            size = head >> 4 if head >> 4 != 15 else self.varint()
            for _ in range(size):
                if head & 0x0F in (_TRUE, _FALSE):
                    self.byte()  # a bool inside a list takes a whole byte
                else:
                    self.value(head & 0x0F)
            return None
        if kind == _MAP:
            size = self.varint()
            types = self.byte() if size else 0
            for _ in range(size):
                self.value(types >> 4)
                self.value(types & 0x0F)
            return None
        if kind == _STRUCT:
            return self.struct()
        raise ValueError(f"unknown thrift compact type {kind}")

    def struct(self) -> dict[int, Any]:
        fields: dict[int, Any] = {}
        last = 0
        while True:
            head = self.byte()
            if head == 0:
                return fields
            delta, kind = head >> 4, head & 0x0F
            last = last + delta if delta else self.zigzag()
            fields[last] = self.value(kind)


@dataclass(frozen=True)
class Page:
    offset: int  # of its header, in the file
    size: int  # header and data
    kind: int
    rows: int  # 0 for a dictionary page


def read_page(read_at: ReadAt, offset: int, end: int) -> Page:
    """The header of the page at `offset`; `end` bounds the column chunk."""
    want = 256
    while True:
        data = read_at(offset, min(want, end - offset))
        parser = _Compact(data)
        try:
            header = parser.struct()
        except _Truncated:
            if want >= end - offset:
                raise ValueError(f"page header at {offset} runs past its column chunk") from None
            want *= 16
            continue
        kind = int(header[1])
        rows = 0
        if kind == DATA_PAGE:
            rows = int(header[5][1])
        elif kind == DATA_PAGE_V2:
            rows = int(header[8][3])
        return Page(offset, parser.pos + int(header[3]), kind, rows)


def leading_pages(read_at: ReadAt, chunk_start: int, chunk_size: int, start: int) -> list[Page]:
    """The chunk's pages up to and including the data page holding row `start`."""
    pages: list[Page] = []
    offset, end, rows = chunk_start, chunk_start + chunk_size, 0
    while offset < end:
        page = read_page(read_at, offset, end)
        pages.append(page)
        offset += page.size
        rows += page.rows
        if rows > start:
            break
    return pages


def skippable(pages: Sequence[Page], start: int) -> tuple[int, int]:
    """(first, last+1) indices of the run of data pages that end at or before row
    `start`; an empty run (first == last+1) when none does.

    Pure planning: the run starts after the dictionary page, and stops at the first page
    that holds row `start` or that is of a kind it cannot stand in for.
    """
    first = 0
    while first < len(pages) and pages[first].kind == DICTIONARY_PAGE:
        first += 1
    stop, rows = first, 0
    while stop < len(pages) and pages[stop].kind in (DATA_PAGE, DATA_PAGE_V2):
        if rows + pages[stop].rows > start:
            break
        rows += pages[stop].rows
        stop += 1
    return first, stop


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        if n < 0x80:
            out.append(n)
            return bytes(out)
        out.append((n & 0x7F) | 0x80)
        n >>= 7


def _i32(field_delta: int, value: int) -> bytes:
    return bytes([field_delta << 4 | _I32]) + _varint((value << 1) ^ (value >> 63))


def _page_header(uncompressed: int, compressed: int, rows: int) -> bytes:
    data_page = (
        _i32(1, rows) + _i32(1, _PLAIN) + _i32(1, _RLE) + _i32(1, _RLE) + b"\x00"
    )  # num_values, encoding, definition and repetition level encodings
    return (
        _i32(1, DATA_PAGE)
        + _i32(1, uncompressed)
        + _i32(1, compressed)
        + bytes([2 << 4 | _STRUCT])  # field 5, data_page_header
        + data_page
        + b"\x00"
    )


def placeholder_values(rows: int, max_definition_level: int, physical_type: str) -> bytes | None:
    """The uncompressed body of a page of `rows` placeholder values: nulls for an optional
    column, zeros (empty strings) for a required one; None for a layout it cannot fake."""
    if max_definition_level == 1:
        # Definition levels, RLE-hybrid with a 4-byte length: one run of `rows` zeros.
        run = _varint(rows << 1) + b"\x00"
        return struct.pack("<I", len(run)) + run
    if max_definition_level == 0:
        if physical_type == "BOOLEAN":
            return bytes((rows + 7) // 8)
        width = _PLAIN_WIDTH.get(physical_type)
        return bytes(rows * width) if width is not None else None
    return None


def stand_in(body: bytes, rows: int, size: int, codec: pa.Codec) -> bytes | None:
    """Header and start of a page of `rows` rows holding `body`, exactly `size` bytes long
    once the original bytes that follow it (inside its skippable frame) are counted;
    None when the skipped pages are too short to hold it."""
    compressed: bytes = codec.compress(body, asbytes=True)
    header = b""
    data = size
    for _ in range(4):  # the header's length depends on the size it encodes
        header = _page_header(len(body), data, rows)
        if size - len(header) == data:
            break
        data = size - len(header)
    padding = data - len(compressed) - _SKIPPABLE_HEADER
    if size - len(header) != data or padding < 0:
        return None
    frame = struct.pack("<II", _ZSTD_SKIPPABLE_MAGIC, padding)
    return header + compressed + frame


@dataclass(frozen=True)
class Patch:
    offset: int
    data: bytes


def patch_column(
    read_at: ReadAt, chunk: Any, column: Any, start: int, codec: pa.Codec
) -> Patch | None:
    """The patch that stands in for the pages of this column chunk before row `start`, or
    None when there are none to skip or the chunk's layout does not allow it.

    `chunk` is pyarrow's ColumnChunkMetaData, `column` its ParquetColumnSchema.
    """
    if chunk.compression != "ZSTD" or column.max_repetition_level != 0:
        return None
    level, physical = int(column.max_definition_level), str(column.physical_type)
    if placeholder_values(1, level, physical) is None:
        return None
    begin = chunk.data_page_offset
    if chunk.has_dictionary_page and chunk.dictionary_page_offset is not None:
        begin = min(begin, chunk.dictionary_page_offset)
    pages = leading_pages(read_at, begin, chunk.total_compressed_size, start)
    first, stop = skippable(pages, start)
    if stop <= first:
        return None
    rows = sum(p.rows for p in pages[first:stop])
    size = sum(p.size for p in pages[first:stop])
    body = placeholder_values(rows, level, physical)
    data = stand_in(body, rows, size, codec) if body is not None else None
    return Patch(pages[first].offset, data) if data is not None else None


__all__ = ["Page", "Patch", "leading_pages", "patch_column", "placeholder_values", "skippable"]
