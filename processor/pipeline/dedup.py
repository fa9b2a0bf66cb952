"""Exact duplicate-row removal across a whole file, in flat memory.

1. While the typed rows stream past (pass 2), each row's 64-bit hash and its row
   number go to one of ``PARTITIONS`` files on local disk, chosen by the hash's top
   bits (:class:`HashSpill`): 16 bytes per row, on disk, not in memory.
2. Between passes, :func:`plan` loads one partition at a time, sorts it by hash and
   keeps only hashes seen more than once: the duplicate *candidates*. Their records
   (row, hash, group size) are written to row-range bucket files, again on disk.
3. While the rows stream past again (pass 3), :class:`Deduper` reads the bucket of the
   current rows. The first row of each candidate group is remembered by value; a
   later row of the group is dropped only if its values are *equal* to a remembered
   one. A hash collision between different rows therefore keeps both rows (and is
   counted); it can never drop a distinct row.

Memory holds one partition while planning (16 bytes x rows / PARTITIONS), one bucket
of candidates, and the values of groups whose last member has not been reached yet.
Past ``memory_budget`` bytes those values move to a temporary SQLite file, so even a
file made mostly of far-apart duplicates stays within bounds (slower, still exact).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from . import _native
from .strbuf import column_buffers

U64 = npt.NDArray[np.uint64]
I64 = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

PARTITIONS = 64
_PART_SHIFT = np.uint64(64 - 6)
_PAIR = np.dtype([("h", "<u8"), ("g", "<i8")])
_CANDIDATE = np.dtype([("g", "<i8"), ("h", "<u8"), ("size", "<i8")])
BUCKET_ROWS = 1 << 20
# What Python really spends on an open group beyond its keys' bytes, measured with
# tracemalloc (100,000 groups of 120-byte keys: 313 bytes a group, 201 a further key):
# the dict entry, the hash's int and the list; then per key its bytes object's header
# and list slot. Counting less let a "32 MiB" budget hold 75 MiB at 4 GB.
_GROUP_OVERHEAD = 120
_KEY_OVERHEAD = 80
# Duplicates described in the report (their rows and values), and how many open
# groups remember their first row meanwhile, to name the row each one repeats.
SAMPLE = 10
_FIRST_ROWS = 10_000


class HashSpill:
    """(hash, row) pairs partitioned by hash prefix into files under ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.rows = 0
        # Each opened at its first row: opening all of them was most of a tiny file's
        # processing time, and a small file touches few.
        self._files: dict[int, BinaryIO] = {}

    def partitions(self) -> list[int]:
        """The partitions that have rows (a file each)."""
        return sorted(self._files)

    def path(self, partition: int) -> Path:
        return self.folder / f"hashes-{partition:02d}.bin"

    def add(self, hashes: U64) -> None:
        """Hashes of the next ``len(hashes)`` rows, in row order."""
        n = len(hashes)
        if not n:
            return
        pairs = np.empty(n, dtype=_PAIR)
        pairs["h"] = hashes
        pairs["g"] = np.arange(self.rows, self.rows + n, dtype=np.int64)
        self.rows += n
        part = (hashes >> _PART_SHIFT).astype(np.uint8)
        order = np.argsort(part, kind="stable")
        bounds = np.searchsorted(part[order], np.arange(PARTITIONS + 1))
        grouped = pairs[order]
        for p in range(PARTITIONS):
            lo, hi = int(bounds[p]), int(bounds[p + 1])
            if hi > lo:
                fh = self._files.get(p)
                if fh is None:
                    fh = self._files[p] = open(self.path(p), "wb")  # noqa: SIM115
                fh.write(grouped[lo:hi].tobytes())

    def close(self) -> None:
        for fh in self._files.values():
            fh.close()


@dataclass
class Plan:
    """Duplicate candidates, bucketed by row number on disk."""

    folder: Path
    candidates: int = 0  # rows in a group of equal hashes
    groups: int = 0
    buckets: set[int] = field(default_factory=set)

    def bucket_path(self, bucket: int) -> Path:
        return self.folder / f"candidates-{bucket:06d}.bin"

    def load(self, bucket: int) -> npt.NDArray[Any]:
        if bucket not in self.buckets:
            return np.zeros(0, dtype=_CANDIDATE)
        records = np.fromfile(self.bucket_path(bucket), dtype=_CANDIDATE)
        return records[np.argsort(records["g"], kind="stable")]


def plan(spill: HashSpill, pool: Executor | None = None) -> Plan:
    """Sort each partition by hash and keep the rows whose hash occurs twice or more.

    Partitions are independent and numpy sorts without the GIL, so ``pool`` may
    plan several at once; their candidates are filed in partition order.
    """
    spill.close()
    result = Plan(spill.folder)
    paths = [spill.path(p) for p in spill.partitions()]
    found = pool.map(_candidates_of, paths) if pool is not None else map(_candidates_of, paths)
    for records in found:
        if records is None:
            continue
        result.candidates += len(records)
        result.groups += int(np.count_nonzero(records["size"]))
        buckets = records["g"] // BUCKET_ROWS
        for bucket in np.unique(buckets):
            chunk = records[buckets == bucket]
            with result.bucket_path(int(bucket)).open("ab") as fh:
                fh.write(chunk.tobytes())
            result.buckets.add(int(bucket))
    return result


def _candidates_of(path: Path) -> npt.NDArray[Any] | None:
    """Candidate records of one partition file (deleted once read), None if none."""
    pairs = np.fromfile(path, dtype=_PAIR)
    path.unlink()
    if len(pairs) < 2:
        return None
    # Rows whose hash occurs twice or more, from an unstable sort of the hashes alone
    # (numpy's SIMD sort): far cheaper than a stable sort of every (hash, row) pair.
    order = np.argsort(pairs["h"])
    h = pairs["h"][order]
    same = h[1:] == h[:-1]
    if not same.any():
        return None
    in_group = np.zeros(len(h), dtype=bool)
    in_group[1:] |= same
    in_group[:-1] |= same
    members = pairs[order[in_group]]
    # Then by row within each group (few rows): its first row is the first occurrence.
    members = members[np.lexsort((members["g"], members["h"]))]
    starts = np.ones(len(members), dtype=bool)
    starts[1:] = members["h"][1:] != members["h"][:-1]
    first = np.flatnonzero(starts)
    sizes = np.diff(np.append(first, len(members)))
    records = np.empty(len(members), dtype=_CANDIDATE)
    records["g"] = members["g"]
    records["h"] = members["h"]
    records["size"] = 0
    records["size"][first] = sizes
    return records


def row_key(values: Iterable[object]) -> bytes:
    """A row's values as bytes that are equal exactly when the values are: each value
    is a null marker, or a tag, a length prefix and its bytes (UTF-8 for text, the
    exact repr for anything else). Far smaller in memory than a tuple of objects."""
    parts = []
    for value in values:
        if value is None:
            parts.append(b"\x00")
            continue
        tag, data = (
            (b"\x01", value.encode()) if isinstance(value, str) else (b"\x02", repr(value).encode())
        )
        parts.append(tag + len(data).to_bytes(4, "little") + data)
    return b"".join(parts)


def _is_text(values: pa.Array) -> bool:
    return bool(pa.types.is_string(values.type) or pa.types.is_large_string(values.type))


def row_keys(columns: Sequence[pa.Array], rows: I64) -> list[bytes]:
    """:func:`row_key` of the given rows, read straight from the Arrow buffers when
    every column is text (the spilled rows always are): a Python object per value
    cost ~20 µs a row."""
    if not columns:
        return [b""] * len(rows)
    rows = np.ascontiguousarray(rows, dtype=np.int64)
    if all(_is_text(c) for c in columns):
        return _native.row_keys([column_buffers(c) for c in columns], rows)
    picked = [c.take(pa.array(rows)) for c in columns]
    table = pa.Table.from_arrays(picked, names=[f"c{i}" for i in range(len(columns))])
    return [row_key(row.values()) for row in table.to_pylist()]


class GroupStore:
    """Values of the open candidate groups: in memory up to a budget, then SQLite."""

    def __init__(self, folder: Path, memory_budget: int) -> None:
        self._folder = folder
        self._budget = memory_budget
        self._bytes = 0
        self._memory: dict[int, list[Any]] = {}  # hash -> [remaining, key, key, ...]
        self._db: sqlite3.Connection | None = None
        self.spilled_groups = 0

    @staticmethod
    def _size(key: bytes) -> int:
        return len(key) + _KEY_OVERHEAD

    def _sql(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = sqlite3.connect(str(self._folder / "groups.sqlite"))
            self._db.executescript(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-2048;"
                "CREATE TABLE grp (h INTEGER PRIMARY KEY, remaining INTEGER);"
                "CREATE TABLE val (h INTEGER, key BLOB);"
                "CREATE INDEX val_h ON val (h);"
            )
        return self._db

    @staticmethod
    def _signed(h: int) -> int:
        return h - (1 << 64) if h >= 1 << 63 else h

    def open_group(self, h: int, size: int, key: bytes) -> None:
        size_bytes = _GROUP_OVERHEAD + self._size(key)
        if self._bytes + size_bytes <= self._budget:
            self._memory[h] = [size - 1, key]
            self._bytes += size_bytes
            return
        self.spilled_groups += 1
        db, sh = self._sql(), self._signed(h)
        db.execute("INSERT INTO grp VALUES (?, ?)", (sh, size - 1))
        db.execute("INSERT INTO val VALUES (?, ?)", (sh, key))

    def is_duplicate(self, h: int, key: bytes) -> bool:
        """Whether ``key`` equals a remembered member of group ``h``; remembers it if
        not. The group is forgotten after its last member."""
        entry = self._memory.get(h)
        if entry is not None:
            duplicate = key in entry[1:]
            if not duplicate:
                entry.append(key)
                self._bytes += self._size(key)
            entry[0] -= 1
            if entry[0] <= 0:
                del self._memory[h]
                self._bytes -= _GROUP_OVERHEAD + sum(self._size(k) for k in entry[1:])
            return duplicate
        db, sh = self._sql(), self._signed(h)
        blob = key
        duplicate = (
            db.execute("SELECT 1 FROM val WHERE h = ? AND key = ?", (sh, blob)).fetchone()
            is not None
        )
        if not duplicate:
            db.execute("INSERT INTO val VALUES (?, ?)", (sh, blob))
        db.execute("UPDATE grp SET remaining = remaining - 1 WHERE h = ?", (sh,))
        row = db.execute("SELECT remaining FROM grp WHERE h = ?", (sh,)).fetchone()
        if row is not None and row[0] <= 0:
            db.execute("DELETE FROM grp WHERE h = ?", (sh,))
            db.execute("DELETE FROM val WHERE h = ?", (sh,))
        return duplicate

    def close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None


class Deduper:
    """Pass 3: which rows of each batch to keep; rows arrive in the pass-2 order."""

    def __init__(self, plan: Plan, memory_budget: int) -> None:
        self._plan = plan
        self._store = GroupStore(plan.folder, memory_budget)
        self._bucket = -1
        self._records = np.zeros(0, dtype=_CANDIDATE)
        self.rows = 0
        self.duplicates = 0
        self.collisions = 0  # equal hashes, different values: kept
        # The first duplicates: (row, the row it repeats or None, its values).
        self.sample: list[tuple[int, int | None, list[str | None]]] = []
        self._first: dict[int, int] = {}  # hash -> first row, while sampling

    @property
    def spilled_groups(self) -> int:
        return self._store.spilled_groups

    def _candidates(self, lo: int, hi: int) -> npt.NDArray[Any]:
        parts = []
        for bucket in range(lo // BUCKET_ROWS, (hi - 1) // BUCKET_ROWS + 1):
            if bucket != self._bucket:
                self._records = self._plan.load(bucket)
                self._bucket = bucket
            g = self._records["g"]
            parts.append(self._records[(g >= lo) & (g < hi)])
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def keep_mask(self, columns: Sequence[pa.Array]) -> BoolArray | None:
        """Mask of the rows to keep, or None to keep them all."""
        n = len(columns[0]) if columns else 0
        lo, hi = self.rows, self.rows + n
        self.rows = hi
        if n == 0 or self._plan.candidates == 0:
            return None
        records = self._candidates(lo, hi)
        if not len(records):
            return None
        local = (records["g"] - lo).astype(np.int64)
        keys = row_keys(columns, local)
        keep = np.ones(n, dtype=bool)
        store = self._store
        for i, (h, size) in enumerate(
            zip(records["h"].tolist(), records["size"].tolist(), strict=True)
        ):
            if size:
                store.open_group(h, size, keys[i])
                if len(self.sample) < SAMPLE and len(self._first) < _FIRST_ROWS:
                    self._first[h] = lo + int(local[i])
            elif store.is_duplicate(h, keys[i]):
                keep[local[i]] = False
                self.duplicates += 1
                if len(self.sample) < SAMPLE:
                    row = int(local[i])
                    values = [c[row].as_py() for c in columns]
                    self.sample.append((lo + row, self._first.get(h), values))
                    if len(self.sample) == SAMPLE:
                        self._first.clear()
            else:
                self.collisions += 1
        return keep

    def close(self) -> None:
        self._store.close()
