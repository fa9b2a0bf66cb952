"""One read-only query, run by DuckDB on a connection of its own (README: SQL).

The order is what makes it safe:

1. The text is parsed, never run: DuckDB's own parser must find exactly one statement,
   of type SELECT (WITH, VALUES, FROM-first, DESCRIBE, SUMMARIZE parse as SELECT too),
   and its parse tree names the tables the query reads.
2. Those names are resolved to dataset versions and only those become views: a local
   store's Parquet file through DuckDB's own reader (the one file path allowed), an S3
   object as a pyarrow dataset read through pyarrow's S3 filesystem (no extension).
3. File, network and extension access is switched off, then the configuration is
   locked: SET, PRAGMA, ATTACH, INSTALL, COPY or read_csv('/etc/passwd') in the query
   can change or reach nothing.
4. Only then does the query run, streamed: at most `limit` + 1 rows are ever taken,
   and a watcher interrupts it at the deadline or when the client leaves.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads

from core import keys
from core.catalog import Status
from core.settings import Settings
from core.storage.arrow import ArrowStore

from ..errors import NotFound
from ..versions import Resolver, Served
from .errors import SqlBusy, SqlError, SqlForbidden, SqlSyntaxError, SqlTimeout, SqlTooLarge

# `"name@N"` is version N of dataset `name`: upload names cannot contain "@".
VERSIONED = re.compile(r"^(?P<name>.+)@(?P<version>[1-9][0-9]{0,9})$")
# Rows DuckDB hands over at a time: small enough that a limit of 1000 stops early.
BATCH_ROWS = 2048
RETRY_AFTER = {"Retry-After": "2"}


def quote_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


@dataclass(frozen=True)
class View:
    """A table name the query used, and the version it reads."""

    table: str
    served: Served


@dataclass
class SqlResult:
    columns: list[tuple[str, str]]  # name, DuckDB type
    table: pa.Table
    truncated: bool
    views: list[View]
    elapsed_ms: float


@dataclass
class Job:
    """What the watcher needs to stop a query from outside its thread."""

    deadline: float
    timeout: float
    reason: str | None = None
    _con: duckdb.DuckDBPyConnection | None = field(default=None, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def attach(self, con: duckdb.DuckDBPyConnection | None) -> None:
        with self._lock:
            self._con = con

    def stop(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason
            if self._con is not None:
                self._con.interrupt()

    def check(self) -> None:
        """Between steps: an interrupt that came while nothing ran still stops the query."""
        if self.reason is None and time.monotonic() > self.deadline:
            self.reason = "timeout"
        if self.reason is not None:
            raise self.failure()

    def failure(self) -> SqlTimeout:
        if self.reason == "gone":
            return SqlTimeout("the client disconnected; the query was interrupted")
        return SqlTimeout(
            f"the query ran longer than {self.timeout:g} s and was interrupted "
            "(MINI_SQL__TIMEOUT_SECONDS); aggregate or filter more, or ask for fewer rows"
        )


def _tables(tree: Any) -> Iterator[tuple[str, str]]:
    """(schema, table) of every table reference in a json_serialize_sql tree."""
    if isinstance(tree, dict):
        if tree.get("type") == "BASE_TABLE" and isinstance(tree.get("table_name"), str):
            yield str(tree.get("schema_name") or ""), tree["table_name"]
        for value in tree.values():
            yield from _tables(value)
    elif isinstance(tree, list):
        for value in tree:
            yield from _tables(value)


def parse(con: duckdb.DuckDBPyConnection, query: str) -> set[str]:
    """The tables a single SELECT reads; anything else is refused. Parsing runs nothing."""
    try:
        statements = con.extract_statements(query)
    except duckdb.ParserException as exc:
        raise SqlSyntaxError(str(exc)) from None
    except duckdb.Error as exc:
        raise SqlError(str(exc)) from None
    if not statements:
        raise SqlSyntaxError("the query is empty")
    if len(statements) > 1:
        raise SqlForbidden(f"one statement per query; this has {len(statements)}")
    kind = statements[0].type
    if kind != duckdb.StatementType.SELECT:
        name = str(kind).rsplit(".", 1)[-1]
        raise SqlForbidden(
            f"only a read-only SELECT (or WITH ... SELECT) may run; this is a {name} statement"
        )
    row = con.execute("SELECT json_serialize_sql(?)", [query]).fetchone()
    tree = json.loads(row[0]) if row else {}
    if tree.get("error"):
        raise SqlSyntaxError(str(tree.get("error_message") or "the query does not parse"))
    return {table for schema, table in _tables(tree) if schema in ("", "main")}


class SqlEngine:
    """Runs queries; created by the composition root, one per process."""

    def __init__(
        self, settings: Settings, resolver: Resolver, arrow: Callable[[], ArrowStore]
    ) -> None:
        self.settings = settings
        self.limits = settings.sql
        self.resolver = resolver
        self._arrow = arrow
        self._slots = threading.BoundedSemaphore(self.limits.max_concurrent)

    def job(self) -> Job:
        timeout = self.limits.timeout_seconds
        return Job(deadline=time.monotonic() + timeout, timeout=timeout)

    @contextmanager
    def slot(self) -> Iterator[None]:
        if not self._slots.acquire(blocking=False):
            raise SqlBusy(
                f"{self.limits.max_concurrent} queries are running (MINI_SQL__MAX_CONCURRENT); "
                "retry shortly",
                headers=RETRY_AFTER,
            )
        try:
            yield
        finally:
            self._slots.release()

    def _connect(self) -> duckdb.DuckDBPyConnection:
        return duckdb.connect(
            ":memory:",
            config={
                "threads": self.limits.threads,
                "memory_limit": f"{self.limits.memory_limit_bytes}B",
                # No spilling: a query past its memory fails instead of writing to disk.
                "temp_directory": "",
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
                # Else a table name could scan a Python variable of this process.
                "python_enable_replacements": False,
            },
        )

    def resolve(self, tables: set[str]) -> list[View]:
        """The dataset versions the query's table names mean; unknown names are left to
        DuckDB (a CTE's name, or a typo it reports)."""
        if len(tables) > self.limits.max_datasets:
            raise SqlError(
                f"the query names {len(tables)} tables; at most {self.limits.max_datasets} "
                "(MINI_SQL__MAX_DATASETS)"
            )
        views = []
        for table in sorted(tables):
            match = VERSIONED.match(table)
            ref, version = (match["name"], int(match["version"])) if match else (table, None)
            try:
                served = self.resolver.resolve(ref, version)
            except NotFound:
                if version is None:
                    continue
                raise
            if served.dataset.status is not Status.ready:
                state = served.dataset.status.value
                raise SqlError(
                    f"version {served.version} of dataset {served.name!r} is {state}: "
                    "it has no data to query"
                    + ("" if version else "; no version of it is ready yet")
                )
            views.append(View(table, served))
        return views

    def _open_views(self, con: duckdb.DuckDBPyConnection, views: list[View]) -> None:
        bucket = self.settings.storage.processed_bucket
        store = self._arrow() if views else None
        local: list[tuple[View, str]] = []
        for view in views:
            assert store is not None
            key = keys.data_key(view.served.id)
            path = store.local_file(bucket, key)
            if path is not None:
                local.append((view, str(path)))
        if local:
            allowed = ", ".join(quote_literal(path) for _, path in local)
            con.execute(f"SET allowed_paths = [{allowed}]")
        con.execute("SET enable_external_access = false")
        for view in views:
            assert store is not None
            key = keys.data_key(view.served.id)
            path = store.local_file(bucket, key)
            if path is not None:
                # DuckDB's own Parquet reader: the fastest, and the file is the one allowed.
                con.execute(
                    f"CREATE VIEW {quote_identifier(view.table)} AS "
                    f"SELECT * FROM read_parquet({quote_literal(str(path))})"
                )
            else:
                # pyarrow reads S3; DuckDB pushes projections and filters into the scan.
                dataset = pads.dataset(
                    store.path(bucket, key), format="parquet", filesystem=store.filesystem
                )
                con.register(view.table, dataset)

    def run(self, query: str, limit: int, job: Job) -> SqlResult:
        """The query's first `limit` rows (and whether there were more), in this thread."""
        started = time.perf_counter()
        con = self._connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            views = self.resolve(parse(con, query))
            self._open_views(con, views)
            con.execute("SET lock_configuration = true")
            job.attach(con)
            job.check()
            table, columns, truncated = self._fetch(con, query, limit, job)
        finally:
            job.attach(None)
            con.close()
        elapsed = (time.perf_counter() - started) * 1000
        return SqlResult(columns, table, truncated, views, elapsed)

    def _fetch(
        self, con: duckdb.DuckDBPyConnection, query: str, limit: int, job: Job
    ) -> tuple[pa.Table, list[tuple[str, str]], bool]:
        try:
            relation = con.sql(query)
            columns = [(n, str(t)) for n, t in zip(relation.columns, relation.types, strict=True)]
            reader = relation.to_arrow_reader(min(BATCH_ROWS, limit + 1))
            batches: list[pa.RecordBatch] = []
            have = 0
            try:
                for batch in reader:
                    batches.append(batch)
                    have += batch.num_rows
                    if have > limit:
                        break
            finally:
                reader.close()
            table = pa.Table.from_batches(batches, schema=reader.schema)
        except duckdb.InterruptException:
            raise job.failure() from None
        except duckdb.OutOfMemoryException:
            raise SqlTooLarge(
                f"the query needs more than {self.limits.memory_limit_bytes:,} bytes of memory "
                "(MINI_SQL__MEMORY_LIMIT_BYTES); aggregate or filter more"
            ) from None
        except duckdb.PermissionException as exc:
            raise SqlForbidden(str(exc)) from None
        except duckdb.ParserException as exc:
            raise SqlSyntaxError(str(exc)) from None
        except duckdb.Error as exc:
            job.check()
            raise SqlError(str(exc)) from None
        return table.slice(0, limit), columns, have > limit
