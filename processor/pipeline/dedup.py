"""Exact duplicate-row detection across a whole file in bounded memory.

Rows are reduced to a 128-bit key: two independent 64-bit hashes, computed with numpy
straight from the Arrow string buffers (pandas.util.hash_pandas_object was ~1.5x
slower on the benchmark file, before counting the conversion to pandas).
:class:`DedupIndex` keeps the keys of distinct rows seen so far as a few sorted numpy
runs (16 bytes per distinct row, no per-row Python object).

Collisions: a row is dropped only when *both* 64-bit hashes equal those of an earlier
row. For distinct rows that is about a 2^-128 event per pair (if the hashes behave
like random functions), so even 10^9 rows give about 10^-21 chance of dropping one
row; we accept that and do not keep row contents to compare. Two stored keys that
share the first hash are handled exactly. The hashes are not cryptographic: a crafted
file could make its own distinct rows collide, which only harms its uploader.

Memory bound: after ``capacity`` distinct rows the index stops growing. Later rows are
still compared with everything stored (and with their own batch), but a row repeating
one that arrived after the limit is kept; the report says the check was incomplete.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pyarrow as pa

from .strbuf import string_buffers

U64 = npt.NDArray[np.uint64]
BoolArray = npt.NDArray[np.bool_]

_M1 = np.uint64(0x9E3779B97F4A7C15)
_M2 = np.uint64(0xC2B2AE3D27D4EB4F)
_F1 = np.uint64(0xFF51AFD7ED558CCD)
_F2 = np.uint64(0xC4CEB9FE1A85EC53)
_SEED1 = np.uint64(0x243F6A8885A308D3)
_SEED2 = np.uint64(0x13198A2E03707344)
_NULL1 = np.uint64(0xA4093822299F31D0)
_NULL2 = np.uint64(0x082EFA98EC4E6C89)
_S29, _S31, _S33 = np.uint64(29), np.uint64(31), np.uint64(33)
# _MASKS[k] keeps the k low bytes of a little-endian word (the bytes of a short tail).
_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


def _fmix(h: U64) -> U64:
    """MurmurHash3's 64-bit finaliser: full avalanche, in place."""
    h ^= h >> _S33
    h *= _F1
    h ^= h >> _S33
    h *= _F2
    h ^= h >> _S33
    return h


def _hash_bytes(offsets: npt.NDArray[np.int64], data: npt.NDArray[np.uint8]) -> tuple[U64, U64]:
    """Two independent 64-bit hashes of each byte string ``data[offsets[i]:offsets[i+1]]``.

    Strings are consumed 8 bytes at a time through an unaligned uint64 view of the
    data, vectorised over all strings still long enough for that step.
    """
    n = len(offsets) - 1
    padded = np.zeros(data.size + 8, dtype=np.uint8)
    padded[: data.size] = data
    words = np.ndarray((len(padded) - 7,), dtype="<u8", buffer=padded, strides=(1,))
    lengths = np.diff(offsets)
    h1 = np.full(n, _SEED1, dtype=np.uint64)
    h2 = np.full(n, _SEED2, dtype=np.uint64)
    idx = np.flatnonzero(lengths > 0)
    start = offsets[:-1][idx]
    left = lengths[idx]
    a1, a2 = h1[idx], h2[idx]
    while idx.size:
        word = words[start]
        if left.min() < 8:
            word &= _MASKS[np.minimum(left, 8)]
        a1 ^= word
        a1 *= _M1
        a1 ^= a1 >> _S29
        a2 ^= word
        a2 *= _M2
        a2 ^= a2 >> _S31
        done = left <= 8
        if done.any():
            h1[idx[done]] = a1[done]
            h2[idx[done]] = a2[done]
            more = ~done
            idx, start, left, a1, a2 = idx[more], start[more], left[more], a1[more], a2[more]
        start += 8
        left -= 8
    ulen = lengths.astype(np.uint64)
    h1 ^= ulen * _M2
    h2 ^= ulen * _M1 + _SEED1
    return _fmix(h1), _fmix(h2)


def _null_mask(values: pa.Array) -> npt.NDArray[np.bool_] | None:
    if not values.null_count:
        return None
    return np.asarray(values.is_null().to_numpy(zero_copy_only=False), dtype=bool)


def hash_strings(values: pa.Array) -> tuple[U64, U64]:
    """Two independent 64-bit hashes per value of a string array; nulls get their own."""
    h1, h2 = _hash_bytes(*string_buffers(values))
    nulls = _null_mask(values)
    if nulls is not None:
        h1[nulls] = _NULL1
        h2[nulls] = _NULL2
    return h1, h2


def hash_rows(columns: Sequence[pa.Array]) -> tuple[U64, U64]:
    """Order-sensitive combination of the per-column hashes of each row."""
    n = len(columns[0]) if columns else 0
    r1 = np.zeros(n, dtype=np.uint64)
    r2 = np.zeros(n, dtype=np.uint64)
    # Column by column keeps the working set in cache; hashing all columns' bytes in one
    # call was measured 2x slower. Value hashes are already fully mixed, so combining
    # needs only an odd multiply (a bijection) per column and one finaliser per row.
    for col in columns:
        c1, c2 = hash_strings(col)
        r1 *= _M1
        r1 ^= c1
        r2 *= _M2
        r2 ^= c2
    return _fmix(r1), _fmix(r2)


class DedupIndex:
    """Set of 128-bit row keys: a Bloom filter in front of sorted runs.

    Most rows of a typical file are new, and the filter answers "certainly new" for
    them without touching the runs. It is a blocked filter (3 bits in one 64-bit word
    per key, so one memory access) sized at ~10 bits per key of capacity: a few
    percent false positives when full, which only cost a lookup in the runs. Runs are
    merged like a binary counter, but never past ``_MAX_RUN`` keys, so a merge never
    needs more than a few times 4 MiB (16 bytes per key).
    """

    _MAX_RUN = 1 << 18

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.size = 0
        self.saturated = False
        self._runs: list[tuple[U64, U64]] = []
        # np.zeros pages are only backed by memory once written: small files pay little.
        words = 1 << max(10, (capacity * 10 // 64).bit_length())
        self._word_mask = np.uint64(words - 1)
        self._bloom = np.zeros(words, dtype=np.uint64)

    def first_seen(self, h1: U64, h2: U64) -> BoolArray:
        """Mask of rows whose key is neither stored nor earlier in this batch; the new
        keys are then stored."""
        n = len(h1)
        keep = np.zeros(n, dtype=bool)
        if n == 0:
            return keep
        k1, k2, rows = _batch_unique(h1, h2)
        seen = np.zeros(len(k1), dtype=bool)
        where, bits = self._bloom_slots(k1, k2)
        maybe = np.flatnonzero((self._bloom[where] & bits) == bits)
        if maybe.size:
            seen[maybe] = self._contains(k1[maybe], k2[maybe])
        fresh = ~seen
        keep[rows[fresh]] = True
        self._add(k1[fresh], k2[fresh], where[fresh], bits[fresh], rows[fresh])
        return keep

    def _bloom_slots(self, k1: U64, k2: U64) -> tuple[npt.NDArray[np.intp], U64]:
        where = ((k1 >> _S33) & self._word_mask).astype(np.intp)
        one = np.uint64(1)
        bits = (
            (one << (k2 & np.uint64(63)))
            | (one << ((k2 >> np.uint64(6)) & np.uint64(63)))
            | (one << ((k2 >> np.uint64(12)) & np.uint64(63)))
        )
        return where, bits

    def _contains(self, k1: U64, k2: U64) -> BoolArray:
        found = np.zeros(len(k1), dtype=bool)
        for r1, r2 in self._runs:
            lo = np.searchsorted(r1, k1, side="left")
            hi = np.searchsorted(r1, k1, side="right")
            span = hi - lo
            one = span == 1
            found[one] |= r2[lo[one]] == k2[one]
            for i in np.flatnonzero(span > 1):
                found[i] |= bool(np.any(r2[lo[i] : hi[i]] == k2[i]))
        return found

    def _add(
        self,
        k1: U64,
        k2: U64,
        where: npt.NDArray[np.intp],
        bits: U64,
        rows: npt.NDArray[np.intp],
    ) -> None:
        if self.saturated or len(k1) == 0:
            return
        room = self.capacity - self.size
        if len(k1) > room:
            # Remember the earliest rows, so what is checked is easy to explain.
            self.saturated = True
            first = np.argsort(rows, kind="stable")[:room]
            k1, k2, where, bits = k1[first], k2[first], where[first], bits[first]
            if room == 0:
                return
        self.size += len(k1)
        # A fancy-indexed |= keeps only the last write to a repeated word; redoing the
        # lost bits converges in a pass or two and beats np.bitwise_or.at.
        while where.size:
            self._bloom[where] |= bits
            lost = (self._bloom[where] & bits) != bits
            where, bits = where[lost], bits[lost]
        order = np.argsort(k1, kind="stable")
        self._runs.append((k1[order], k2[order]))
        while len(self._runs) > 1:
            (a1, a2), (b1, b2) = self._runs[-2], self._runs[-1]
            if len(a1) > 2 * len(b1) or len(a1) + len(b1) > self._MAX_RUN:
                break
            self._runs.pop()
            c1, c2 = np.concatenate((a1, b1)), np.concatenate((a2, b2))
            # Stable sort of two sorted runs is a linear merge for numpy's timsort.
            merged = np.argsort(c1, kind="stable")
            self._runs[-1] = (c1[merged], c2[merged])


def _batch_unique(h1: U64, h2: U64) -> tuple[U64, U64, npt.NDArray[np.intp]]:
    """Distinct keys of a batch with the row of their first occurrence."""
    n = len(h1)
    order = np.argsort(h1, kind="stable")
    s1, s2 = h1[order], h2[order]
    same1 = s1[1:] == s1[:-1]
    if np.any(same1 & (s2[1:] != s2[:-1])):
        # Equal first hashes with different second ones: only a full sort keeps equal
        # keys next to each other. (lexsort is stable too.)
        order = np.lexsort((h2, h1))
        s1, s2 = h1[order], h2[order]
        same1 = (s1[1:] == s1[:-1]) & (s2[1:] == s2[:-1])
    head = np.ones(n, dtype=bool)
    head[1:] = ~same1
    return s1[head], s2[head], order[head]
