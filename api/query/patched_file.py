"""A read-only view of a file with a few byte ranges replaced, for pyarrow to read from."""

from __future__ import annotations

import io
from collections.abc import Sequence

import pyarrow as pa

from .pages import Patch


class PatchedFile(io.RawIOBase):
    """`base` as it would read with each patch's bytes written at its offset."""

    def __init__(self, base: pa.MemoryMappedFile, patches: Sequence[Patch]) -> None:
        super().__init__()
        self._size = base.size()
        # The whole map as one buffer: reads hand out views of it, not copies.
        base.seek(0)
        self._view = memoryview(base.read_buffer(self._size))
        self._patches = sorted(patches, key=lambda p: p.offset)
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._size}[whence]
        self._pos = base + offset
        return self._pos

    def read(self, size: int = -1) -> memoryview | bytearray:
        """pyarrow takes any buffer; only a read that overlaps a patch is copied."""
        start = self._pos
        stop = self._size if size < 0 else min(start + size, self._size)
        stop = max(stop, start)
        self._pos = stop
        touched = [p for p in self._patches if p.offset < stop and p.offset + len(p.data) > start]
        if not touched:
            return self._view[start:stop]
        out = bytearray(self._view[start:stop])
        for p in touched:
            lo, hi = max(p.offset, start), min(p.offset + len(p.data), stop)
            out[lo - start : hi - start] = p.data[lo - p.offset : hi - p.offset]
        return out
