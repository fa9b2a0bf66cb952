"""Read-only SQL (GET/POST /sql) against the live API: answers, version addressing,
limits, and attempts to escape the sandbox (README: SQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from core.catalog import new_dataset_id
from tests.api.conftest import catalog_of
from tests.conftest import s3_env
from tests.servers.api import ApiServer, wait_final
from tests.servers.seaweed import SeaweedS3

TIMEOUT_SECONDS = 2.0
SALES_V1 = b"id,city,amount\n1,Oslo,10\n2,Bergen,20\n"
SALES_V2 = b"id,city,amount\n1,Oslo,100\n2,Bergen,200\n3,Oslo,300\n"
CITIES = b"city,country\nOslo,Norway\nBergen,Norway\n"


def upload(c: httpx.Client, name: str, csv: bytes) -> dict[str, Any]:
    r = c.post("/upload", params={"name": name}, files={"file": (f"{name}.csv", csv)})
    assert r.status_code == 202, r.text
    body = wait_final(c, r.json()["id"])
    assert body["status"] == "ready", body
    return r.json()


def seed(c: httpx.Client) -> dict[str, Any]:
    first = upload(c, "sales", SALES_V1)
    upload(c, "sales", SALES_V2)
    upload(c, "eu-cities.v1", CITIES)
    return first


@pytest.fixture(scope="module")
def sql_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ApiServer, str]]:
    env = {
        "MINI_SQL__TIMEOUT_SECONDS": str(TIMEOUT_SECONDS),
        "MINI_SQL__MEMORY_LIMIT_BYTES": str(128 * 1024 * 1024),
        "MINI_SQL__MAX_ROWS": "5000",
        "MINI_SQL__THREADS": "1",
    }
    with ApiServer(tmp_path_factory.mktemp("api-sql"), env) as server:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            first = seed(c)
        yield server, first["id"]


@pytest.fixture
def c(sql_api: tuple[ApiServer, str]) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=sql_api[0].url, timeout=60) as client:
        yield client


def sql(c: httpx.Client, q: str, **params: Any) -> httpx.Response:
    return c.get("/sql", params={"q": q, **params})


def test_aggregate_over_the_latest_ready_version(c: httpx.Client) -> None:
    r = sql(c, "SELECT city, sum(amount) AS total FROM sales GROUP BY city ORDER BY city")
    assert r.status_code == 200, r.text
    body = r.json()
    assert [col["name"] for col in body["columns"]] == ["city", "total"]
    assert body["rows"] == [["Bergen", 200], ["Oslo", 400]]
    assert body["truncated"] is False and body["row_count"] == 2
    assert [(d["table"], d["name"], d["version"]) for d in body["datasets"]] == [
        ("sales", "sales", 2)
    ]
    assert r.headers["X-Result-Truncated"] == "false"


def test_join_of_two_datasets_with_quoted_names(c: httpx.Client) -> None:
    q = (
        "SELECT c.country, count(*) AS n, sum(s.amount) AS total FROM sales s "
        'JOIN "eu-cities.v1" c USING (city) GROUP BY c.country'
    )
    body = sql(c, q).json()
    assert body["rows"] == [["Norway", 3, 600]]
    assert {d["table"] for d in body["datasets"]} == {"sales", "eu-cities.v1"}


def test_a_version_by_number_and_by_id(c: httpx.Client, sql_api: tuple[ApiServer, str]) -> None:
    body = sql(c, 'SELECT sum(amount) FROM "sales@1"').json()
    assert body["rows"] == [[30]]
    assert body["datasets"][0]["version"] == 1
    first_id = sql_api[1]
    assert sql(c, f'SELECT count(*) FROM "{first_id}"').json()["rows"] == [[2]]
    both = sql(c, 'SELECT (SELECT count(*) FROM "sales@1"), (SELECT count(*) FROM sales)')
    assert both.json()["rows"] == [[2, 3]]


def test_unknown_dataset_or_version(c: httpx.Client) -> None:
    r = sql(c, "SELECT * FROM nowhere")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "sql_error"
    assert "nowhere" in r.json()["error"]["message"]
    r = sql(c, 'SELECT * FROM "sales@9"')
    assert r.status_code == 404
    assert "no version 9" in r.json()["error"]["message"]


def test_a_dataset_with_no_ready_version(c: httpx.Client, sql_api: tuple[ApiServer, str]) -> None:
    # A version whose upload is missing: it stays queued or fails, never ready.
    catalog = catalog_of(sql_api[0])
    dataset_id = new_dataset_id()
    catalog.add(
        dataset_id=dataset_id,
        filename="ghost.csv",
        raw_key=f"{dataset_id}/source.csv",
        sha256="0" * 64,
        size_bytes=1,
        name="ghost",
    )
    r = sql(c, "SELECT * FROM ghost")
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == "sql_error"
    assert "no version of it is ready yet" in r.json()["error"]["message"]
    r = sql(c, 'SELECT * FROM "ghost@1"')
    assert r.status_code == 400 and "has no data to query" in r.json()["error"]["message"]


def test_rows_are_capped_and_flagged(c: httpx.Client) -> None:
    body = sql(c, "SELECT * FROM range(10) t(i)", limit=4).json()
    assert body["rows"] == [[0], [1], [2], [3]]
    assert body["truncated"] is True and body["limit"] == 4
    assert sql(c, "SELECT 1", limit=5001).status_code == 422


def test_a_huge_result_stops_at_the_limit(c: httpx.Client) -> None:
    started = time.monotonic()
    r = sql(c, "SELECT * FROM range(1000000000000) t(i)")
    assert r.status_code == 200, r.text
    assert r.json()["row_count"] == 1000 and r.json()["truncated"] is True
    assert time.monotonic() - started < TIMEOUT_SECONDS + 5


def test_a_query_that_would_run_forever_is_interrupted(c: httpx.Client) -> None:
    started = time.monotonic()
    # The small side is held, the other streams: 10^16 pairs, no memory to run out of.
    r = sql(c, "SELECT count(*) FROM range(100000) a CROSS JOIN range(100000000000) b")
    elapsed = time.monotonic() - started
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "sql_timeout"
    assert "interrupted" in r.json()["error"]["message"]
    assert elapsed < TIMEOUT_SECONDS + 5
    # The server is free again at once.
    assert sql(c, "SELECT 42").json()["rows"] == [[42]]


def test_memory_is_limited(c: httpx.Client) -> None:
    r = sql(c, "SELECT count(*) FROM (SELECT DISTINCT range::VARCHAR || 'x' FROM range(50000000))")
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] in ("sql_memory_limit", "sql_timeout")


def test_post_takes_long_queries(c: httpx.Client) -> None:
    values = ", ".join(str(i) for i in range(0, 20000, 2))
    long_query = f"SELECT count(*) AS n FROM range(100) t(i) WHERE i IN ({values})"
    # Longer than a URL may be (MINI_MAX_URL_BYTES), shorter than MINI_SQL__MAX_QUERY_CHARS.
    assert 32 * 1024 < len(long_query) < 100_000
    r = c.post("/sql", json={"q": long_query})
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [[50]]
    r = c.post("/sql", json={"q": "SELECT 1 " + " " * 100_000})
    assert r.status_code == 422 and "MINI_SQL__MAX_QUERY_CHARS" in r.text


def test_csv_and_json_downloads(c: httpx.Client) -> None:
    q = "SELECT id, city FROM sales ORDER BY id"
    r = sql(c, q, format="csv", download="true")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"] == 'attachment; filename="query.csv"'
    assert r.text.splitlines() == ['"id","city"', '1,"Oslo"', '2,"Bergen"', '3,"Oslo"']
    r = sql(c, q, download="true")
    assert r.headers["content-disposition"] == 'attachment; filename="query.json"'
    assert r.json()["rows"][0] == [1, "Oslo"]


def test_values_render_as_json(c: httpx.Client) -> None:
    q = (
        "SELECT DATE '2024-01-02' AS d, TIMESTAMP '2024-01-02 03:04:05' AS t, "
        "1.50::DECIMAL(5,2) AS dec, 'x'::BLOB AS b, [1, 2] AS l, {'k': 1} AS s, "
        "'nan'::DOUBLE AS f, 1 AS a, 2 AS a"
    )
    body = sql(c, q).json()
    assert body["rows"] == [
        ["2024-01-02", "2024-01-02T03:04:05", "1.50", "eA==", [1, 2], {"k": 1}, None, 1, 2]
    ]
    assert [col["name"] for col in body["columns"]][-2:] == ["a", "a"]


ESCAPES = [
    ("SELECT * FROM read_csv('/etc/passwd')", 403, "sql_forbidden"),
    ("SELECT * FROM read_text('/etc/hostname')", 403, "sql_forbidden"),
    # A file name as a table is a table name here: no such dataset.
    ("SELECT * FROM '/etc/passwd'", 400, "sql_error"),
    ("SELECT * FROM glob('/*')", 403, "sql_forbidden"),
    ("SELECT * FROM read_parquet('http://127.0.0.1:1/x.parquet')", 403, "sql_forbidden"),
    ("COPY (SELECT 1) TO '/tmp/mini-sql-escape.csv'", 403, "sql_forbidden"),
    ("ATTACH '/tmp/mini-sql-escape.db' AS x", 403, "sql_forbidden"),
    ("INSTALL httpfs", 403, "sql_forbidden"),
    ("LOAD httpfs", 403, "sql_forbidden"),
    ("SET enable_external_access = true", 403, "sql_forbidden"),
    ("SET threads = 64", 403, "sql_forbidden"),
    ("PRAGMA threads = 64", 403, "sql_forbidden"),
    ("CALL pragma_version()", 403, "sql_forbidden"),
    ("CREATE TABLE t AS SELECT 1", 403, "sql_forbidden"),
    ("EXPLAIN ANALYZE SELECT 1", 403, "sql_forbidden"),
    ("SELECT 1; SELECT 2", 403, "sql_forbidden"),
    ("SELECT 1; COPY (SELECT 1) TO '/tmp/mini-sql-escape.csv'", 403, "sql_forbidden"),
    ("SELECT * FROM sales; DROP VIEW sales", 403, "sql_forbidden"),
    ("SELEC 1", 400, "sql_syntax_error"),
    ("   ", 400, "sql_syntax_error"),
]


@pytest.mark.parametrize(("query", "status", "code"), ESCAPES)
def test_escapes_are_refused(c: httpx.Client, query: str, status: int, code: str) -> None:
    r = c.post("/sql", json={"q": query})
    assert (r.status_code, r.json()["error"]["code"]) == (status, code), r.text
    assert r.json()["error"]["message"]


def test_settings_are_locked_from_inside_a_select(c: httpx.Client) -> None:
    r = sql(c, "SELECT current_setting('enable_external_access'), current_setting('threads')")
    assert r.json()["rows"] == [[False, 1]]
    r = sql(c, "SELECT * FROM query('SET enable_external_access = true')")
    assert r.status_code in (400, 403), r.text


def test_nothing_was_written(c: httpx.Client) -> None:
    from pathlib import Path

    assert not Path("/tmp/mini-sql-escape.csv").exists()
    assert not Path("/tmp/mini-sql-escape.db").exists()


def test_api_keys_concurrency_and_a_client_that_leaves(tmp_path: Any) -> None:
    env = {
        "MINI_API_KEYS": "k-sql-1",
        "MINI_SQL__MAX_CONCURRENT": "1",
        "MINI_SQL__TIMEOUT_SECONDS": "8",
    }
    forever = "SELECT count(*) FROM range(100000) a CROSS JOIN range(100000000000) b"
    with ApiServer(tmp_path / "api", env) as server:
        assert httpx.get(f"{server.url}/sql", params={"q": "SELECT 1"}).status_code == 401
        key = {"Authorization": "Bearer k-sql-1"}
        with httpx.Client(base_url=server.url, headers=key, timeout=60) as c:
            assert sql(c, "SELECT 1").json()["rows"] == [[1]]
            # A client that gives up: its query is interrupted and its slot freed at once,
            # long before MINI_SQL__TIMEOUT_SECONDS.
            with pytest.raises(httpx.ReadTimeout):
                c.get("/sql", params={"q": forever}, timeout=1.0)
            started = time.monotonic()
            while (r := sql(c, "SELECT 2")).status_code == 503:
                assert r.json()["error"]["code"] == "sql_busy"
                assert r.headers["Retry-After"]
                assert time.monotonic() - started < 5, "the abandoned query kept its slot"
                time.sleep(0.1)
            assert r.json()["rows"] == [[2]]

            def slow() -> httpx.Response:
                with httpx.Client(base_url=server.url, headers=key, timeout=60) as other:
                    return other.get("/sql", params={"q": forever})

            with ThreadPoolExecutor(1) as pool:
                running = pool.submit(slow)
                time.sleep(1.0)
                busy = sql(c, "SELECT 3")
                assert busy.status_code == 503, busy.text
                assert busy.json()["error"]["code"] == "sql_busy"
                assert "MINI_SQL__MAX_CONCURRENT" in busy.json()["error"]["message"]
                assert running.result().status_code == 422


@pytest.mark.s3
def test_sql_over_s3(seaweed: SeaweedS3, tmp_path: Any) -> None:
    suffix = str(time.monotonic_ns())[-8:]
    env = s3_env(
        seaweed,
        MINI_STORAGE__RAW_BUCKET=f"raw-sql-{suffix}",
        MINI_STORAGE__PROCESSED_BUCKET=f"processed-sql-{suffix}",
    )
    with (
        ApiServer(tmp_path / "api", env) as server,
        httpx.Client(base_url=server.url, timeout=60) as c,
    ):
        seed(c)
        q = (
            'SELECT c.country, count(*), sum(s.amount) FROM sales s JOIN "eu-cities.v1" c '
            "USING (city) WHERE s.amount > 100 GROUP BY 1"
        )
        r = sql(c, q)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [["Norway", 2, 500]]
        assert sql(c, 'SELECT sum(amount) FROM "sales@1"').json()["rows"] == [[30]]
        r = sql(c, "SELECT * FROM read_csv('/etc/passwd')")
        assert r.status_code == 403
