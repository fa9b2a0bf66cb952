"""Search benchmark: `GET /datasets?q=`'s catalog query over many datasets, on SQLite
(FTS5) and, with `--postgres`, on a real PostgreSQL (tsvector + GIN).

`make bench ARGS=bench_search` (or `python -m bench bench_search`). Options (with `=`):

  --datasets=N   datasets in the catalog (default 2000), each with a ready version of
                 30 columns; a third have a title, tags and a description
  --samples=N    timed calls per figure (default 30); the median is printed
  --postgres     also on a throwaway PostgreSQL (tests/servers/postgres.py)

README: Metadata and search has the figures.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from core.catalog import SqlCatalog, new_dataset_id

WORDS = ["sales", "weather", "traffic", "budget", "census", "schools", "rivers", "energy"]
QUERIES = {
    "list page, no q": None,
    "q=energy (every dataset has such a column)": "energy",
    "q=ene (a prefix)": "ene",
    "q=strasse grosse open (a third)": "strasse grosse open",
    "q=nothingmatches": "nothingmatches",
}
COLUMNS = 30


def _fill(catalog: SqlCatalog, count: int) -> float:
    started = time.perf_counter()
    for i in range(count):
        name = f"{WORDS[i % len(WORDS)]}_{i}"
        ds_id = new_dataset_id()
        catalog.add(
            dataset_id=ds_id,
            filename="f.csv",
            raw_key="k",
            sha256="0" * 64,
            size_bytes=1,
            name=name,
        )
        catalog.mark_processing(ds_id)
        columns = [f"col_{j}_{WORDS[(i + j) % len(WORDS)]}" for j in range(COLUMNS)]
        catalog.mark_ready(ds_id, rows_in=1, rows_out=1, rows_rejected=0, columns=columns)
        if i % 3 == 0:
            catalog.set_metadata(
                name,
                {
                    "title": f"Dataset {i} about {WORDS[(i + 3) % len(WORDS)]}",
                    "tags": [WORDS[(i + 5) % len(WORDS)], "open"],
                    "description": "Straße Größe " * 20,
                },
            )
    return time.perf_counter() - started


def _median_ms(call: Callable[[], object], samples: int) -> float:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def _run(url: str, label: str, count: int, samples: int) -> None:
    catalog = SqlCatalog.from_url(url)
    try:
        catalog.create_schema()
        built = _fill(catalog, count)
        print(f"{label}: {count} datasets recorded in {built:.1f} s")
        for title, q in QUERIES.items():
            total = catalog.families(q=q, limit=50)[1]
            ms = _median_ms(partial(catalog.families, q=q, limit=50), samples)
            print(f"  {title:<45} {ms:8.1f} ms  ({total} found)")
        edit = _median_ms(lambda: catalog.set_metadata("sales_0", {"title": "x"}), samples)
        print(f"  {'set_metadata (an edit, with its reindex)':<45} {edit:8.1f} ms")
    finally:
        catalog.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_search")
    parser.add_argument("--datasets", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--postgres", action="store_true")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-search-") as tmp:
        url = f"sqlite:///{Path(tmp) / 'catalog.sqlite3'}"
        _run(url, "SQLite (FTS5)", args.datasets, args.samples)
    if args.postgres:
        from tests.servers.postgres import PostgresServer

        with PostgresServer() as server, server.database() as name:
            _run(server.url(name), "PostgreSQL (GIN)", args.datasets, args.samples)
    return 0
