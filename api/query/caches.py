"""The read side's caches and fetch pool: one set per process, made by the composition
root (api/container.py) and closed on shutdown. Importing api.query creates none of it.

Every cache is keyed by an object's identity (dataset id, bucket, key, size): a ready
version's objects never change, so entries are only ever evicted, never invalidated.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

from .cache import LRUCache
from .engine import COUNT_CACHE_ENTRIES, ORDER_CACHE_BYTES, Order
from .footer_cache import FOOTER_CACHE_BYTES, Footer
from .source import GROUP_CACHE_BYTES, RECENT_READS


class QueryCaches:
    def __init__(self, fetch_workers: int | None = None) -> None:
        # Parsed footers (footer_cache.py).
        self.footers: LRUCache[Footer] = LRUCache(FOOTER_CACHE_BYTES, weigh=lambda f: f.size_bytes)
        # Row groups decoded whole (source.py).
        self.groups: LRUCache[pa.Table] = LRUCache(
            GROUP_CACHE_BYTES, weigh=lambda t: max(t.nbytes, 1)
        )
        # Groups read once through a prefix: the second read of one decodes and caches it
        # whole, so paging through a group decodes it at most twice, and a one-off deep
        # page never pays for rows after the ones it shows.
        self.recent: LRUCache[bool] = LRUCache(RECENT_READS)
        # Matching rows per group of a filter (engine.py).
        self.counts: LRUCache[tuple[int, ...]] = LRUCache(COUNT_CACHE_ENTRIES)
        # Row order of a filter and sort (engine.py).
        self.orders: LRUCache[Order] = LRUCache(
            ORDER_CACHE_BYTES, weigh=lambda o: max(o.rows.nbytes, 1)
        )
        # Reads of a sorted page's rows, one row group per task (engine.fetch_rows).
        self.fetch_pool = ThreadPoolExecutor(
            max_workers=fetch_workers or os.cpu_count() or 2, thread_name_prefix="mini-fetch"
        )
        # Compresses the stand-in pages of reads that skip pages (pages.py).
        self.zstd = pa.Codec("zstd")

    def clear(self) -> None:
        """Empties every cache (the pool stays open)."""
        self.footers.clear()
        self.groups.clear()
        self.recent.clear()
        self.counts.clear()
        self.orders.clear()

    def close(self) -> None:
        """Shuts the fetch pool down (waiting for reads under way) and empties the caches."""
        self.fetch_pool.shutdown(wait=True, cancel_futures=True)
        self.clear()
