"""Serving benchmark: the JSON API over HTTP against DuckDB on the same ≈ 1 GB Parquet file.

`make bench ARGS=bench_serving` (or `python -m bench bench_serving`). Options, written
with `=` because bench/__main__.py passes on only the `-` arguments:

  --rows=N         dataset size (default 6000000; the file is reused when present)
  --samples=N      requests per latency figure (default 24, so that each cold figure
                   finds that many unread row groups; the sorted pages take 1/4)
  --seconds=N      length of the sustained-load run (default 30)
  --clients=N      concurrent clients in it (default 8)

The dataset (bench/serving_data.py) is written the way the processor writes its output
and registered as a ready dataset in a fresh embedded-default data dir (local object
store, SQLite catalog); the API then runs as `make run` starts it (`python -m api`,
uvicorn, one process) on a free port. Latencies are measured one request at a time with
a keep-alive client; DuckDB runs the same queries in this process on the same file.
Sustained load: each client pages through the dataset from its own starting point by
following `next` links, on its own keep-alive connection.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import httpx

from bench.serving_data import DATA_DIR, ROWS, ensure_dataset
from core import keys
from core.catalog import SqlCatalog, new_dataset_id
from core.settings import Settings
from core.storage.factory import ensure_buckets, make_store

ROOT = Path(__file__).resolve().parents[1]
TARGET_DEEP_P50_MS = 25.0
TARGET_FILTER_RATIO = 2.0
TARGET_RPS = 300.0


@dataclass
class Figure:
    label: str
    api_ms: list[float]
    duck_ms: list[float] | None = None
    note: str = ""

    @staticmethod
    def pct(values: list[float], q: float) -> float:
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    def line(self) -> str:
        api50, api95 = self.pct(self.api_ms, 0.5), self.pct(self.api_ms, 0.95)
        text = f"{self.label:<44} API p50 {api50:8.1f} ms  p95 {api95:8.1f} ms"
        if self.duck_ms:
            d50, d95 = self.pct(self.duck_ms, 0.5), self.pct(self.duck_ms, 0.95)
            text += f" | DuckDB p50 {d50:8.1f} ms  p95 {d95:8.1f} ms | ratio {api50 / d50:5.2f}"
        return text + (f"  ({self.note})" if self.note else "")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def register(data_dir: Path, parquet: Path, rows: int) -> str:
    """The benchmark file as a ready dataset of a fresh embedded-default data dir."""
    settings = Settings(data_dir=data_dir)
    store = make_store(settings)
    ensure_buckets(store, settings)
    catalog = SqlCatalog.from_url(settings.resolved_database_url())
    catalog.create_schema()
    dataset_id = new_dataset_id()
    target = settings.resolved_storage_root() / settings.storage.processed_bucket
    target = target / keys.data_key(dataset_id)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(parquet, target)  # read-only use: a hard link spares a 1 GB copy
    except OSError:
        shutil.copyfile(parquet, target)
    catalog.add(
        dataset_id=dataset_id,
        filename=parquet.name,
        raw_key=keys.raw_key(dataset_id),
        sha256="0" * 64,
        size_bytes=parquet.stat().st_size,
        name="bench",
    )
    catalog.mark_processing(dataset_id)
    catalog.mark_ready(dataset_id, rows_in=rows, rows_out=rows, rows_rejected=0)
    catalog.engine.dispose()
    return dataset_id


class Api:
    def __init__(self, data_dir: Path) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINI_")}
        env |= {"MINI_DATA_DIR": str(data_dir), "MINI_PORT": str(self.port)}
        self.log = (data_dir / "api.log").open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "api"], cwd=ROOT, env=env, stdout=self.log, stderr=self.log
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the API exited at start; see {data_dir / 'api.log'}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError("the API did not start within 60 s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def timed(fn: Callable[[], object], samples: int, warmup: int = 2) -> list[float]:
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def timed_each(fns: list[Callable[[], object]]) -> list[float]:
    """One timing per call, each a different request (no warm-up: these are cold)."""
    out = []
    for fn in fns:
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


def _first(fn: Callable[[], object]) -> str:
    """The cold first request, reported beside the repeated ones' percentiles."""
    return f"first request {timed_each([fn])[0]:.1f} ms"


def _getter(client: httpx.Client, url: str) -> Callable[[], object]:
    def get() -> object:
        r = client.get(url)
        if r.status_code != 200:
            raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")
        return r.content

    return get


def _duck(con: duckdb.DuckDBPyConnection, sql: str) -> Callable[[], object]:
    return lambda: con.sql(sql).to_arrow_table()


def latencies(api: Api, ds: str, parquet: Path, rows: int, samples: int) -> list[Figure]:
    con = duckdb.connect()
    src = f"read_parquet('{parquet}')"
    base = f"/datasets/{ds}"
    deep = min(5_000_000, rows - 100)
    mid = min(5_550_000, rows // 2 + 50_000)
    group = 100_000
    n_groups = max(rows // group, 1)
    # Groups the repeated figures use stay out of the cold figures, and the two cold
    # figures share none: each of their requests meets a row group nobody read before.
    taken = {0, deep // group, mid // group}
    even = [g for g in range(0, n_groups, 2) if g not in taken] or [0]
    odd = [g for g in range(1, n_groups, 2) if g not in taken] or [0]
    figures = []
    with httpx.Client(base_url=api.url, timeout=600) as c:
        first = _first(_getter(c, f"{base}?limit=100"))
        figures.append(
            Figure(
                "first page (limit=100)",
                timed(_getter(c, f"{base}?limit=100"), samples),
                timed(_duck(con, f"SELECT * FROM {src} LIMIT 100"), samples),
                note=first,
            )
        )
        first = _first(_getter(c, f"{base}?offset={deep}&limit=100"))
        figures.append(
            Figure(
                f"offset={deep}&limit=100",
                timed(_getter(c, f"{base}?offset={deep}&limit=100"), samples),
                timed(_duck(con, f"SELECT * FROM {src} LIMIT 100 OFFSET {deep}"), samples),
                note=first,
            )
        )
        offsets = [even[i % len(even)] * group + group // 2 for i in range(samples)]
        figures.append(
            Figure(
                "deep page, mid-group, every group cold",
                timed_each([_getter(c, f"{base}?offset={o}&limit=100") for o in offsets]),
                timed_each(
                    [_duck(con, f"SELECT * FROM {src} LIMIT 100 OFFSET {o}") for o in offsets]
                ),
                note="offsets g*100000+50000, even g",
            )
        )
        where = f"id >= {mid} AND id < {mid + 100}"
        first = _first(_getter(c, f"{base}?id__gte={mid}&id__lt={mid + 100}&limit=100"))
        figures.append(
            Figure(
                "filtered page (id range, pruned to 1 group)",
                timed(_getter(c, f"{base}?id__gte={mid}&id__lt={mid + 100}&limit=100"), samples),
                timed(_duck(con, f"SELECT * FROM {src} WHERE {where} LIMIT 100"), samples),
                note=f"same URL repeated; {first}",
            )
        )
        starts = [odd[i % len(odd)] * group + group // 2 for i in range(samples)]
        figures.append(
            Figure(
                "filtered page, a different group each time",
                timed_each(
                    [_getter(c, f"{base}?id__gte={s}&id__lt={s + 100}&limit=100") for s in starts]
                ),
                timed_each(
                    [
                        _duck(
                            con, f"SELECT * FROM {src} WHERE id >= {s} AND id < {s + 100} LIMIT 100"
                        )
                        for s in starts
                    ]
                ),
                note="ids from g*100000+50000, odd g",
            )
        )
        sorted_samples = max(samples // 4, 3)
        cold_sorted = timed_each([_getter(c, f"{base}?sort=-amount&limit=100")])
        figures.append(
            Figure(
                "sorted page (sort=-amount, all columns)",
                timed(_getter(c, f"{base}?sort=-amount&limit=100"), sorted_samples, warmup=0),
                timed(
                    _duck(con, f"SELECT * FROM {src} ORDER BY amount DESC, id LIMIT 100"),
                    sorted_samples,
                    warmup=1,
                ),
                note=f"first request {cold_sorted[0]:.0f} ms",
            )
        )
        figures.append(
            Figure(
                "sorted page, 3 columns (id,amount,customer)",
                timed(
                    _getter(c, f"{base}?sort=-amount&limit=100&columns=id,amount,customer"),
                    sorted_samples,
                ),
                timed(
                    _duck(
                        con,
                        f"SELECT id, amount, customer FROM {src} "
                        "ORDER BY amount DESC, id LIMIT 100",
                    ),
                    sorted_samples,
                ),
            )
        )
    con.close()
    return figures


@dataclass
class LoadResult:
    requests: int = 0
    errors: int = 0
    seconds: float = 0.0
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def sustained(api: Api, ds: str, rows: int, clients: int, seconds: float) -> LoadResult:
    """Each client follows `next` links from its own offset, on one keep-alive connection."""
    result = LoadResult()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    spacing = max(rows // clients, 1)

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
        path = f"/datasets/{ds}?limit=100&offset={k * spacing}"
        done = errors = 0
        first_error = ""
        while time.monotonic() < deadline:
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                if response.status != 200:
                    raise RuntimeError(f"HTTP {response.status}: {body[:200]!r}")
                path = json.loads(body)["next"] or f"/datasets/{ds}?limit=100"
                done += 1
            except Exception as exc:
                errors += 1
                first_error = first_error or repr(exc)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=60)
        conn.close()
        with lock:
            result.requests += done
            result.errors += errors
            result.first_error = result.first_error or first_error

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.monotonic() - started
    return result


def _verdict(ok: bool) -> str:
    return "MET" if ok else "MISSED"


def report(figures: list[Figure], load: LoadResult, clients: int) -> bool:
    print()
    for f in figures:
        print(f.line())
    print(
        f"\nsustained: {load.rps:.0f} page requests/s with {clients} clients for "
        f"{load.seconds:.0f} s, {load.errors} errors"
        + (f" (first: {load.first_error})" if load.errors else "")
    )
    deep = figures[1]
    deep50 = Figure.pct(deep.api_ms, 0.5)
    duck_deep50 = Figure.pct(deep.duck_ms or [0.0], 0.5)
    print("\ntargets:")
    ok_deep = deep50 <= TARGET_DEEP_P50_MS and deep50 <= duck_deep50
    print(
        f"  deep page p50 {deep50:.1f} ms ≤ {TARGET_DEEP_P50_MS:.0f} ms "
        f"(ratio {deep50 / TARGET_DEEP_P50_MS:.2f}) and ≤ DuckDB {duck_deep50:.1f} ms "
        f"(ratio {deep50 / duck_deep50:.2f}): {_verdict(ok_deep)}"
    )
    ok = ok_deep
    for f in (figures[3], figures[4]):
        ratio = Figure.pct(f.api_ms, 0.5) / Figure.pct(f.duck_ms or [1.0], 0.5)
        ok_f = ratio <= TARGET_FILTER_RATIO
        ok = ok and ok_f
        print(f"  {f.label}: {ratio:.2f}x DuckDB ≤ {TARGET_FILTER_RATIO:.0f}x: {_verdict(ok_f)}")
    ok_rps = load.rps >= TARGET_RPS and load.errors == 0
    print(
        f"  sustained {load.rps:.0f} req/s ≥ {TARGET_RPS:.0f} (ratio {load.rps / TARGET_RPS:.2f})"
        f" with 0 errors ({load.errors}): {_verdict(ok_rps)}"
    )
    return ok and ok_rps


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_serving")
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--samples", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    parquet = ensure_dataset(args.rows)
    size_gb = parquet.stat().st_size / 1e9
    print(f"dataset: {parquet.name}, {args.rows:,} rows, {size_gb:.2f} GB", flush=True)
    run_dir = DATA_DIR / f"run-{os.getpid()}"
    shutil.rmtree(run_dir, ignore_errors=True)
    try:
        ds = register(run_dir, parquet, args.rows)
        api = Api(run_dir)
        try:
            figures = latencies(api, ds, parquet, args.rows, args.samples)
            load = sustained(api, ds, args.rows, args.clients, args.seconds)
        finally:
            api.stop()
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    met = report(figures, load, args.clients)
    print(f"\nall serving targets {'met' if met else 'NOT met'}")
    return 0
