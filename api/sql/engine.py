"""Read-only queries, run by DuckDB over the datasets' Parquet (README: SQL).

One DuckDB database per process, made at the first query and locked at once: file,
network and extension access switched off (except DuckDB's reads of the local store's
processed objects), no spilling to disk, the memory limit and thread count set, then
`lock_configuration`, so nothing a query says can change them. Its caches (Parquet
bytes, metadata) serve every later query.

Each query then has a connection (cursor) of its own:

1. The text is parsed, never run: DuckDB's own parser must find exactly one statement,
   of type SELECT (WITH, VALUES, FROM-first, DESCRIBE, SUMMARIZE parse as SELECT too),
   and its parse tree names the tables the query reads.
2. Those names are resolved to dataset versions and only those become (temporary, this
   connection's) views: a local store's Parquet file through DuckDB's own reader, an S3
   object as a pyarrow dataset read through pyarrow's S3 filesystem (no extension).
3. The query runs streamed: at most `limit` + 1 rows are ever taken, and a watcher
   interrupts it at the deadline or when the client leaves.
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
# Longer than any dataset name or version id (uploads allow 255 characters).
MAX_NAME_CHARS = 255
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
        raise SqlForbidden(f"only a read-only SELECT (or WITH ... SELECT) may run, not {name}")
    found = con.execute("SELECT json_serialize_sql(?)", [query]).fetchall()
    tree = json.loads(found[0][0]) if found else {}
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
        self._db: duckdb.DuckDBPyConnection | None = None
        self._db_lock = threading.Lock()

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

    def _database(self) -> duckdb.DuckDBPyConnection:
        with self._db_lock:
            if self._db is None:
                self._db = self._locked_database()
            return self._db

    def _locked_database(self) -> duckdb.DuckDBPyConnection:
        db = duckdb.connect(
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
        db.execute("SET TimeZone = 'UTC'")
        # A version's object never changes (a new version is a new object): its footer is
        # parsed once, not at every query.
        db.execute("SET parquet_metadata_cache = true")
        store = self._arrow()
        processed = store.local_file(self.settings.storage.processed_bucket, "")
        if processed is not None:
            # The folder of the datasets' outputs only: not the uploads, not the catalog.
            db.execute(f"SET allowed_directories = [{quote_literal(str(processed) + '/')}]")
        db.execute("SET enable_external_access = false")
        db.execute("SET lock_configuration = true")
        return db

    def close(self) -> None:
        with self._db_lock:
            if self._db is not None:
                self._db.close()
                self._db = None

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
            if len(ref) > MAX_NAME_CHARS or not ref.isprintable():
                continue  # no dataset has such a name; DuckDB reports the unknown table
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
        store = self._arrow()
        for view in views:
            key = keys.data_key(view.served.id)
            path = store.local_file(bucket, key)
            if path is not None:
                # DuckDB's own Parquet reader: the fastest, and its caches are shared.
                con.execute(
                    f"CREATE TEMP VIEW {quote_identifier(view.table)} AS "
                    f"SELECT * FROM read_parquet({quote_literal(str(path))})"
                )
            else:
                # Imported here: pyarrow.dataset imports pandas when it is installed, and
                # only S3 needs it (api never imports pandas; tests/test_boundaries.py).
                import pyarrow.dataset as pads

                # pyarrow reads S3; DuckDB pushes projections and filters into the scan.
                dataset = pads.dataset(
                    store.path(bucket, key), format="parquet", filesystem=store.filesystem
                )
                con.register(view.table, dataset)

    def run(self, query: str, limit: int, job: Job) -> SqlResult:
        """The query's first `limit` rows (and whether there were more), in this thread."""
        started = time.perf_counter()
        con = self._database().cursor()
        try:
            views = self.resolve(parse(con, query))
            self._open_views(con, views)
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
