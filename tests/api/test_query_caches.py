"""The read side's caches and fetch pool belong to the composition root: importing
api (or core) creates none of them, and Container.stop() shuts the pool and empties them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from api.container import build_container
from api.query.caches import QueryCaches
from api.query.engine import Query, page
from api.query.filters import parse_filters
from api.query.sort import parse_sort
from api.query.source import open_source
from core.settings import Settings
from tests.api.parquet_fixtures import orders_rows, parquet_bytes

ROOT = Path(__file__).resolve().parents[2]

# Run in a fresh interpreter: every api and core module imported (and the app factory
# called), then every object the GC sees and every global of an api or core module is
# searched for a cache, a thread pool, a resolver or a codec, and the threads are listed.
# The same search then has to find the ones a QueryCaches makes, so it cannot pass by
# seeing nothing.
FRESH_IMPORT = """
import gc, importlib, pkgutil, sys, threading
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa

import api, core
# Every module of the API and of the shared core (not the migration scripts, which
# Alembic runs), then the app factory.
for package in (api, core):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.startswith(("core.migrations.env", "core.migrations.versions")):
            importlib.import_module(info.name)
from api.main import create_app
create_app()

from api.column_stats import StatsCache
from api.query.cache import LRUCache
from api.versions import Resolver

# What the composition root makes (api/container.py), and nobody else.
MADE_BY_THE_ROOT = (LRUCache, ThreadPoolExecutor, StatsCache, Resolver)


def found():
    gc.collect()
    made = [o for o in gc.get_objects() if isinstance(o, MADE_BY_THE_ROOT)]
    names = [
        f"{m}.{n}"
        for m, module in list(sys.modules.items())
        if m.split(".")[0] in ("api", "core")
        for n, v in vars(module).items()
        if isinstance(v, (*MADE_BY_THE_ROOT, pa.Codec))
    ]
    return made, names


made, names = found()
assert not made, made
assert not names, names
threads = [t.name for t in threading.enumerate()]
assert threads == ["MainThread"], threads

from api.query.caches import QueryCaches
caches = QueryCaches()
made, _ = found()
assert sum(isinstance(o, LRUCache) for o in made) == 5, made
assert sum(isinstance(o, ThreadPoolExecutor) for o in made) == 1, made
caches.close()
print("ok")
"""


def test_importing_api_and_core_creates_no_cache_pool_or_thread() -> None:
    done = subprocess.run(
        [sys.executable, "-c", FRESH_IMPORT], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("mini-fetch")]


def test_container_stop_shuts_the_fetch_pool_and_empties_the_caches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [n for n in os.environ if n.startswith("MINI_")]:
        monkeypatch.delenv(name)
    container = build_container(Settings(data_dir=tmp_path / "data"))
    caches = container.query_caches
    path = tmp_path / "orders.parquet"
    path.write_bytes(parquet_bytes(orders_rows()))
    before = set(_fetch_threads())

    with open_source(caches, "d", "processed", "orders", lambda: path.open("rb")) as source:
        schema = source.schema
        filtered = Query(parse_filters([("qty__ne", "5")], schema), (), ["id"])
        page(source, filtered, 250, 40)  # footer, match counts, row groups, a prefix read
        ordered = Query((), parse_sort("-amount", schema), ["id", "amount"])
        table, total = page(source, ordered, 0, 30)  # a row order, rows through the pool
    assert (table.num_rows, total) == (30, 1000)
    assert all(len(c) for c in (caches.footers, caches.groups, caches.recent, caches.counts))
    assert len(caches.orders) and set(_fetch_threads()) - before

    container.stop()

    sizes = [len(c) for c in (caches.footers, caches.groups, caches.recent)]
    assert [*sizes, len(caches.counts), len(caches.orders)] == [0] * 5
    assert [c.weight for c in (caches.footers, caches.groups, caches.orders)] == [0, 0, 0]
    with pytest.raises(RuntimeError, match="shutdown"):
        caches.fetch_pool.submit(lambda: None)
    assert not set(_fetch_threads()) - before  # its threads have ended


def test_close_twice_is_harmless() -> None:
    caches = QueryCaches(fetch_workers=1)
    assert caches.fetch_pool.submit(lambda: 7).result() == 7
    caches.close()
    caches.close()
    with pytest.raises(RuntimeError):
        caches.fetch_pool.submit(lambda: None)
