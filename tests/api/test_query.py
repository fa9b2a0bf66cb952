"""The query API over HTTP (the real API process, embedded default), checked against
plain-Python filtering and sorting of the rows the fixture file was written from."""

from __future__ import annotations

import datetime as dt
import io
import random
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from api.query.caches import QueryCaches
from api.query.engine import Query, page
from api.query.filters import ColumnStats, Filter, Verdict, filter_verdict, parse_filters
from api.query.footer_cache import parse_footer
from api.query.pages import (
    DATA_PAGE,
    DICTIONARY_PAGE,
    Page,
    placeholder_values,
    read_page,
    skippable,
    stand_in,
)
from api.query.plan import locate, plan_groups
from api.query.sort import parse_sort
from api.query.source import Source, open_source
from tests.api.conftest import catalog_of
from tests.api.parquet_fixtures import (
    GROUP_ROWS,
    ROWS,
    as_json,
    orders_rows,
    parquet_bytes,
    register,
)
from tests.servers.api import ApiServer, wait_final

Row = dict[str, Any]
ROWS_DATA = orders_rows()
DATA = parquet_bytes(ROWS_DATA)


@pytest.fixture(scope="module")
def orders(local_api: ApiServer) -> str:
    return register(local_api, DATA)


@pytest.fixture
def caches() -> Iterator[QueryCaches]:
    """Empty caches and a fetch pool of the test's own, as the composition root makes them."""
    made = QueryCaches()
    yield made
    made.close()


def walk(client: httpx.Client, url: str) -> Iterator[dict[str, Any]]:
    """Every page from `url` on, following `next`."""
    next_url: str | None = url
    while next_url:
        response = client.get(next_url)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        yield body
        next_url = body["next"]


def walk_ids(client: httpx.Client, url: str) -> tuple[list[int], set[int]]:
    ids: list[int] = []
    totals: set[int] = set()
    for body in walk(client, url):
        ids.extend(row["id"] for row in body["rows"])
        totals.add(body["total_rows"])
    return ids, totals


def _day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


FILTER_CASES: list[tuple[str, Callable[[Row], bool]]] = [
    ("qty=5", lambda r: r["qty"] == 5),
    ("qty__eq=5", lambda r: r["qty"] == 5),
    ("qty__ne=5", lambda r: r["qty"] != 5),
    ("id__gt=250&id__lte=420", lambda r: 250 < r["id"] <= 420),
    ("id__gte=990", lambda r: r["id"] >= 990),
    # On group boundaries (groups hold ids [100g, 100g + 99]): min or max equals the value.
    ("id__gt=300&id__lt=500", lambda r: 300 < r["id"] < 500),
    ("id__gte=300&id__lte=499", lambda r: 300 <= r["id"] <= 499),
    ("id__ne=0&id__lt=100", lambda r: 0 < r["id"] < 100),
    ("id__lt=3", lambda r: r["id"] < 3),
    ("delta__lt=-2", lambda r: r["delta"] < -2),
    ("amount__gte=50.5", lambda r: r["amount"] is not None and r["amount"] >= 50.5),
    ("amount__lt=3", lambda r: r["amount"] is not None and r["amount"] < 3),
    ("amount__isnull=true", lambda r: r["amount"] is None),
    ("amount__isnull=false&qty__in=1,2", lambda r: r["amount"] is not None and r["qty"] in (1, 2)),
    ("city=Oslo", lambda r: r["city"] == "Oslo"),
    ("city__ne=Oslo", lambda r: r["city"] is not None and r["city"] != "Oslo"),
    ("city__in=Lima,Pune", lambda r: r["city"] in ("Lima", "Pune")),
    ("city__contains=y", lambda r: r["city"] is not None and "y" in r["city"]),
    ("city__startswith=K", lambda r: r["city"] is not None and r["city"].startswith("K")),
    ("city__isnull=true", lambda r: r["city"] is None),
    ("day=2024-01-05", lambda r: r["day"] == dt.date(2024, 1, 5)),
    (
        "day__gte=2024-01-20&day__lt=2024-01-23",
        lambda r: _day("2024-01-20") <= r["day"] < _day("2024-01-23"),
    ),
    ("ts__gte=2024-01-10T00:00:00", lambda r: r["ts"] >= dt.datetime(2024, 1, 10)),
    ("ts__lt=2024-01-02", lambda r: r["ts"] < dt.datetime(2024, 1, 2)),
    # 03:00 UTC is 05:00 at +02:00; the offset is honoured on a UTC column.
    (
        "tsz__lte=2024-01-03T05:00:00%2B02:00",
        lambda r: r["tsz"] <= dt.datetime(2024, 1, 3, 3, tzinfo=dt.UTC),
    ),
    ("paid=true", lambda r: r["paid"] is True),
    ("paid=false&city=Baku", lambda r: r["paid"] is False and r["city"] == "Baku"),
    ("paid__isnull=true", lambda r: r["paid"] is None),
    ("note=%3D1%2B1", lambda r: r["note"] == "=1+1"),
    ("note__startswith=%2B", lambda r: r["note"].startswith("+")),
    ("id__gt=2000", lambda r: False),
]


@pytest.mark.parametrize(("params", "predicate"), FILTER_CASES, ids=[c[0] for c in FILTER_CASES])
def test_filter_pages_match_python(
    client: httpx.Client, orders: str, params: str, predicate: Callable[[Row], bool]
) -> None:
    expected = [r["id"] for r in ROWS_DATA if predicate(r)]
    ids, totals = walk_ids(client, f"/datasets/{orders}?limit=37&{params}")
    assert ids == expected
    assert totals == {len(expected)}


def test_rows_are_typed_json(client: httpx.Client, orders: str) -> None:
    body = client.get(f"/datasets/{orders}?id=23").json()
    assert body["rows"] == [{k: as_json(v) for k, v in ROWS_DATA[23].items()}]
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert types == {
        "id": "int",
        "ts": "timestamp",
        "tsz": "timestamp",
        "day": "date",
        "city": "string",
        "amount": "float",
        "qty": "int",
        "delta": "int",
        "paid": "bool",
        "note": "string",
    }


def python_sort(rows: list[Row], spec: list[tuple[str, bool]]) -> list[Row]:
    """Stable sorts from the last key to the first (Python keeps ties in order even with
    reverse=True), nulls last in both directions."""
    out = list(rows)
    for column, descending in reversed(spec):
        present = [r for r in out if r[column] is not None]
        missing = [r for r in out if r[column] is None]
        out = sorted(present, key=lambda r: r[column], reverse=descending) + missing
    return out


SORT_CASES = [
    ("qty", [("qty", False)], ""),
    ("-qty", [("qty", True)], ""),
    ("-amount,id", [("amount", True), ("id", False)], ""),
    ("city,-day", [("city", False), ("day", True)], ""),
    ("paid,-qty", [("paid", False), ("qty", True)], "&city__ne=Oslo"),
    ("note", [("note", False)], "&amount__gt=20"),
]


@pytest.mark.parametrize(
    ("sort", "spec", "extra"), SORT_CASES, ids=[c[0] + c[2] for c in SORT_CASES]
)
def test_sort_is_stable_and_next_visits_each_row_once(
    client: httpx.Client, orders: str, sort: str, spec: list[tuple[str, bool]], extra: str
) -> None:
    rows = ROWS_DATA
    if extra == "&city__ne=Oslo":
        rows = [r for r in rows if r["city"] is not None and r["city"] != "Oslo"]
    elif extra == "&amount__gt=20":
        rows = [r for r in rows if r["amount"] is not None and r["amount"] > 20]
    expected = [r["id"] for r in python_sort(rows, spec)]
    ids, totals = walk_ids(client, f"/datasets/{orders}?limit=33&sort={sort}{extra}")
    assert ids == expected
    assert totals == {len(expected)}
    # A deep offset lands on the same rows as walking there.
    body = client.get(f"/datasets/{orders}?offset=500&limit=7&sort={sort}{extra}").json()
    assert [r["id"] for r in body["rows"]] == expected[500:507]


def test_unfiltered_walk_projection_and_offsets(client: httpx.Client, orders: str) -> None:
    offsets = []
    ids: list[int] = []
    for body in walk(client, f"/datasets/{orders}?limit=128&columns=amount,id"):
        assert [c["name"] for c in body["columns"]] == ["amount", "id"]
        assert all(list(row) == ["amount", "id"] for row in body["rows"])
        assert body["total_rows"] == ROWS
        offsets.append(body["offset"])
        ids.extend(r["id"] for r in body["rows"])
    assert ids == list(range(ROWS))
    assert offsets == list(range(0, ROWS, 128))
    page_ = client.get(f"/datasets/{orders}?offset=995&limit=10").json()
    assert [r["id"] for r in page_["rows"]] == list(range(995, 1000))
    assert page_["next"] is None
    assert client.get(f"/datasets/{orders}?offset=5000").json()["rows"] == []


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ("qty__gt=abc", "qty"),
        ("qty=1.5", "qty"),
        ("amount__lt=ten", "amount"),
        ("day=2024-13-01", "day"),
        ("ts__gt=2024-01-01T00:00:00%2B01:00", "ts"),
        ("paid=maybe", "paid"),
        ("id__in=1,x", "id"),
        ("nope=1", "nope"),
        ("qty__between=1", "between"),
        ("qty__contains=1", "qty"),
        ("amount__isnull=perhaps", "amount"),
        ("sort=nope", "nope"),
        ("sort=id,-id", "id"),
        ("columns=id,nope", "nope"),
        ("cursor=garbage", "cursor"),
        ("limit=0", "limit"),
        ("limit=10001", "limit"),
        ("offset=-1", "offset"),
        ("version=0", "version"),
    ],
)
def test_invalid_parameters_are_422_naming_the_problem(
    client: httpx.Client, orders: str, params: str, needle: str
) -> None:
    response = client.get(f"/datasets/{orders}?{params}")
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert set(error) == {"code", "message"}
    assert needle in error["message"]


def test_cursor_is_bound_to_its_query(client: httpx.Client, orders: str) -> None:
    first = client.get(f"/datasets/{orders}?limit=10&qty=3").json()
    cursor = first["next"].split("cursor=")[1]
    other = client.get(f"/datasets/{orders}?limit=10&qty=4&cursor={cursor}")
    assert other.status_code == 422
    assert "another query" in other.json()["error"]["message"]
    both = client.get(f"/datasets/{orders}?limit=10&qty=3&offset=5&cursor={cursor}")
    assert both.status_code == 422
    # A cursor is opaque: flipping one character breaks its checksum.
    tampered = cursor[:-2] + ("A" if cursor[-2] != "A" else "B") + cursor[-1]
    assert client.get(f"/datasets/{orders}?qty=3&cursor={tampered}").status_code == 422
    same = client.get(f"/datasets/{orders}?limit=10&qty=3&cursor={cursor}").json()
    assert same["offset"] == 10


def test_etag_and_if_none_match(client: httpx.Client, orders: str) -> None:
    url = f"/datasets/{orders}?limit=5&sort=-amount"
    first = client.get(url)
    tag = first.headers["etag"]
    assert tag.startswith('"') and first.headers["cache-control"] == "no-cache"
    again = client.get(url, headers={"If-None-Match": tag})
    assert again.status_code == 304 and again.content == b""
    assert again.headers["etag"] == tag
    assert client.get(url, headers={"If-None-Match": f'"x", W/{tag}'}).status_code == 304
    assert client.get(url, headers={"If-None-Match": '"other"'}).status_code == 200
    changed = client.get(f"/datasets/{orders}?limit=6&sort=-amount")
    assert changed.headers["etag"] != tag


def test_pending_and_failed_keep_their_shapes(client: httpx.Client, local_api: ApiServer) -> None:
    catalog = catalog_of(local_api)
    queued = "f" * 32
    catalog.add(dataset_id=queued, filename="q.csv", raw_key="k", sha256="0" * 64, size_bytes=1)
    try:
        r = client.get(f"/datasets/{queued}?sort=id&qty=1")
        assert r.status_code == 202
        assert r.json() == {"id": queued, "name": queued, "version": 1, "status": "queued"}
        assert r.headers["retry-after"]
    finally:
        catalog.mark_failed(queued, "given up by the test")
    r = client.get(f"/datasets/{queued}")
    assert r.status_code == 409
    body = r.json()
    assert (body["id"], body["version"], body["status"]) == (queued, 1, "failed")
    assert body["error"]["code"] == "dataset_failed"
    assert body["error"]["detail"] == "given up by the test"
    assert client.get(f"/datasets/{'0' * 32}").status_code == 404


def test_uploaded_csv_is_queryable_by_type(client: httpx.Client) -> None:
    """The processor's own output: typed filters and sort on what it inferred."""
    lines = ["when,day,count,price,ok,label"]
    for i in range(60):
        lines.append(
            f"2024-02-{1 + i % 28:02d}T{i % 24:02d}:15:00,2024-03-{1 + i % 30:02d},"
            f"{i},{i * 1.25},{'true' if i % 2 else 'false'},item-{i:02d}"
        )
    r = client.post("/upload", files={"file": ("typed.csv", ("\n".join(lines) + "\n").encode())})
    ds = r.json()["id"]
    assert wait_final(client, ds)["status"] == "ready"
    types = {c["name"]: c["type"] for c in client.get(f"/datasets/{ds}?limit=1").json()["columns"]}
    assert types["when"] == "timestamp" and types["day"] == "date" and types["ok"] == "bool"
    body = client.get(
        f"/datasets/{ds}?count__gte=10&ok=true&when__lt=2024-02-15&sort=-price&limit=100"
    ).json()
    expected = sorted(
        (i for i in range(10, 60) if i % 2 and 1 + i % 28 < 15), key=lambda i: -i * 1.25
    )
    assert [row["count"] for row in body["rows"]] == expected
    assert body["total_rows"] == len(expected)
    assert client.get(f"/datasets/{ds}?price__gt=1,5").status_code == 422


# -- pruning: the planning is pure, so its decisions are checked directly -----------------


def _footer() -> Any:
    return parse_footer(("test", "b", "k", len(DATA)), io.BytesIO(DATA))


def _filters(*params: tuple[str, str]) -> list[Filter]:
    return parse_filters(params, pq.ParquetFile(io.BytesIO(DATA)).schema_arrow)


def test_planner_prunes_and_skips_evaluation_from_statistics() -> None:
    footer = _footer()
    assert footer.num_groups == ROWS // GROUP_ROWS
    plans = plan_groups(footer, _filters(("id__gte", "250"), ("id__lt", "420")))
    verdicts = [p.verdict for p in plans]
    # Groups hold ids [100g, 100g + 99].
    assert (
        verdicts
        == [Verdict.NONE] * 2 + [Verdict.SOME, Verdict.ALL, Verdict.SOME] + [Verdict.NONE] * 5
    )
    assert [p.start for p in plans] == list(range(0, ROWS, GROUP_ROWS))
    day = plan_groups(footer, _filters(("day", "2024-01-03")))
    # 40 rows a day: 2024-01-03 is rows 80..119, in groups 0 and 1 only.
    assert [p.verdict for p in day][:3] == [Verdict.SOME, Verdict.SOME, Verdict.NONE]
    assert all(p.verdict is Verdict.NONE for p in day[2:])
    nothing = plan_groups(footer, _filters(("qty__gt", "12")))
    assert all(p.verdict is Verdict.NONE for p in nothing)
    everything = plan_groups(footer, _filters(("qty__lte", "12")))
    assert all(p.verdict is Verdict.ALL for p in everything)
    text = plan_groups(footer, _filters(("city", "Zagreb")))
    assert all(p.verdict is Verdict.NONE for p in text)


def test_filter_verdicts_are_conservative() -> None:
    stats = ColumnStats(min=10, max=20, null_count=0, num_rows=5)
    with_nulls = ColumnStats(min=10, max=20, null_count=1, num_rows=5)
    col = pa.int64()
    assert filter_verdict(Filter("c", "gt", 20, col), stats) is Verdict.NONE
    assert filter_verdict(Filter("c", "gt", 9, col), stats) is Verdict.ALL
    assert filter_verdict(Filter("c", "gt", 9, col), with_nulls) is Verdict.SOME
    # Equal to a bound: the strict operators cannot claim every row.
    assert filter_verdict(Filter("c", "gt", 10, col), stats) is Verdict.SOME
    assert filter_verdict(Filter("c", "gte", 10, col), stats) is Verdict.ALL
    assert filter_verdict(Filter("c", "lt", 20, col), stats) is Verdict.SOME
    assert filter_verdict(Filter("c", "lte", 20, col), stats) is Verdict.ALL
    assert filter_verdict(Filter("c", "lt", 10, col), stats) is Verdict.NONE
    assert filter_verdict(Filter("c", "gte", 21, col), stats) is Verdict.NONE
    assert filter_verdict(Filter("c", "in", (1, 30), col), stats) is Verdict.NONE
    assert filter_verdict(Filter("c", "ne", 15, col), stats) is Verdict.SOME
    assert filter_verdict(Filter("c", "isnull", True, col), stats) is Verdict.NONE
    assert filter_verdict(Filter("c", "isnull", True, col), with_nulls) is Verdict.SOME
    assert filter_verdict(Filter("c", "eq", 1, col), None) is Verdict.SOME
    # Floats may hold NaN outside min/max: never "every row matches" from statistics.
    f64 = pa.float64()
    fstats = ColumnStats(min=1.0, max=2.0, null_count=0, num_rows=5)
    assert filter_verdict(Filter("c", "gt", 0.5, f64), fstats) is Verdict.SOME
    assert filter_verdict(Filter("c", "gt", 2.0, f64), fstats) is Verdict.NONE
    sstats = ColumnStats(min="Kyiv", max="Lima", null_count=0, num_rows=5)
    assert filter_verdict(Filter("c", "startswith", "M", pa.string()), sstats) is Verdict.NONE
    assert filter_verdict(Filter("c", "startswith", "Ky", pa.string()), sstats) is Verdict.SOME
    assert filter_verdict(Filter("c", "startswith", "A", pa.string()), sstats) is Verdict.NONE


def test_locate_maps_result_positions_to_groups() -> None:
    assert locate([3, 0, 4, 5], 2, 9) == [(0, 2, 3), (2, 0, 4), (3, 0, 2)]
    assert locate([3, 0, 4, 5], 20, 30) == []
    assert locate([], 0, 10) == []


def test_engine_agrees_with_python_on_random_queries(caches: QueryCaches) -> None:
    """Pruning, ALL-groups, prefix reads and top-k must never change an answer."""
    rng = random.Random(7)
    data = io.BytesIO(DATA)
    footer = _footer()
    source = Source(
        caches, footer, pq.ParquetFile(data, metadata=footer.metadata), lambda: io.BytesIO(DATA)
    )
    schema = footer.schema
    for _ in range(60):
        lo = rng.randrange(0, ROWS)
        hi = lo + rng.randrange(1, 400)
        q = rng.randrange(0, 13)
        params = [("id__gte", str(lo)), ("id__lt", str(hi)), ("qty__ne", str(q))]
        sort = rng.choice([None, "qty", "-amount", "city,-id"])
        offset, limit = rng.randrange(0, 120), rng.randrange(1, 90)
        query = Query(parse_filters(params, schema), parse_sort(sort, schema), ["id"])
        table, total = page(source, query, offset, limit)
        rows = [r for r in ROWS_DATA if lo <= r["id"] < hi and r["qty"] != q]
        spec = {
            None: [],
            "qty": [("qty", False)],
            "-amount": [("amount", True)],
            "city,-id": [("city", False), ("id", True)],
        }[sort]
        expected = [r["id"] for r in python_sort(rows, spec)]
        assert total == len(expected)
        assert table.column("id").to_pylist() == expected[offset : offset + limit]


# -- page skipping: reads deep in a row group decode only the pages they need ---------------


def test_skippable_run_ends_before_the_page_holding_start() -> None:
    dictionary = Page(0, 10, DICTIONARY_PAGE, 0)
    data = [Page(10 + 20 * i, 20, DATA_PAGE, 4) for i in range(4)]  # rows 0-3, 4-7, ...
    pages = [dictionary, *data]
    assert skippable(pages, 0) == (1, 1)
    assert skippable(pages, 3) == (1, 1)
    assert skippable(pages, 4) == (1, 2)
    assert skippable(pages, 11) == (1, 3)
    assert skippable(pages, 16) == (1, 5)  # past the end: every data page
    # A page of a kind it cannot stand in for (an index page) ends the run.
    assert skippable([data[0], Page(30, 5, 1, 0), data[1]], 8) == (0, 1)
    assert skippable(data[:2], 5) == (0, 1)  # no dictionary page


def test_stand_in_page_fills_the_skipped_bytes_exactly() -> None:
    codec = pa.Codec("zstd")
    body = placeholder_values(5000, 1, "BYTE_ARRAY")
    assert body is not None
    page_bytes = stand_in(body, 5000, 4000, codec)
    assert page_bytes is not None
    # Followed by the original bytes it covers, it reads as one page of exactly 4000 bytes.
    covered = page_bytes + bytes(range(256)) * 16
    parsed = read_page(lambda at, n: covered[at : at + n], 0, 4000)
    assert (parsed.size, parsed.kind, parsed.rows) == (4000, DATA_PAGE, 5000)
    assert stand_in(body, 5000, 20, codec) is None  # too short to hold it
    # Required columns get PLAIN zero values; layouts it cannot fake get None.
    assert placeholder_values(10, 0, "INT64") == bytes(80)
    assert placeholder_values(10, 0, "BOOLEAN") == bytes(2)
    assert placeholder_values(10, 0, "FIXED_LEN_BYTE_ARRAY") is None
    assert placeholder_values(10, 2, "INT64") is None


def _many_pages(path: Any, version: str) -> pa.Table:
    n = 9000
    rng = random.Random(11)
    table = pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "must": pa.array([i * 3 for i in range(n)], pa.int32()),
            "word": pa.array([None if i % 13 == 0 else f"w{rng.randrange(50)}" for i in range(n)]),
            "text": pa.array(["x" * rng.randrange(0, 40) + str(i) for i in range(n)]),
            "flag": pa.array([i % 3 == 0 for i in range(n)]),
            "amount": pa.array([None if i % 7 == 0 else i / 4 for i in range(n)], pa.float64()),
            "day": pa.array([dt.date(2024, 1, 1) + dt.timedelta(days=i // 50) for i in range(n)]),
        },
        schema=pa.schema(
            [
                ("id", pa.int64()),
                pa.field("must", pa.int32(), nullable=False),
                ("word", pa.string()),
                pa.field("text", pa.string(), nullable=False),
                pa.field("flag", pa.bool_(), nullable=False),
                ("amount", pa.float64()),
                ("day", pa.date32()),
            ]
        ),
    )
    pq.write_table(
        table,
        path,
        row_group_size=4000,
        compression="zstd",
        max_rows_per_page=97,
        data_page_version=version,
        write_page_checksum=True,
    )
    return table


@pytest.mark.parametrize("version", ["1.0", "2.0"])
def test_row_windows_skip_pages_and_match_a_full_read(
    tmp_path: Any, version: str, caches: QueryCaches
) -> None:
    path = tmp_path / "pages.parquet"
    table = _many_pages(path, version)
    rng = random.Random(3)
    with open_source(caches, "pages", "b", str(path), lambda: path.open("rb")) as source:
        assert source.mapped is not None
        columns = source.schema.names
        assert source._skipping(1, columns, 500) is not source.parquet  # it does skip
        assert source._skipping(1, columns, 0) is source.parquet
        cases = [(0, 0, 1), (0, 96, 98), (1, 3999, 4000), (2, 999, 1000), (1, 97, 194)]
        cases += [(g, s, s + rng.randrange(1, 300)) for g in (0, 1) for s in range(0, 3700, 331)]
        for g, start, stop in cases:
            got = source.read_rows(g, columns, start, stop)
            first = source.footer.group_starts[g]
            expected = table.slice(first + start, stop - start)
            assert got.equals(expected), (g, start, stop)
        # Projection: one column, deep in the group.
        got = source.read_rows(1, ["text"], 3000, 3050)
        assert got.column("text").to_pylist() == table.column("text")[7000:7050].to_pylist()


def test_deep_pages_over_http_skip_pages_exactly(
    client: httpx.Client, local_api: ApiServer, tmp_path: Any
) -> None:
    """Offsets and filters deep in row groups of a many-page file, over the real API."""
    path = tmp_path / "pages.parquet"
    table = _many_pages(path, "1.0")
    dataset = register(local_api, path.read_bytes())
    rows = table.to_pylist()
    for offset in (0, 150, 3999, 4001, 5555, 8950):
        body = client.get(f"/datasets/{dataset}?offset={offset}&limit=40").json()
        assert [r["id"] for r in body["rows"]] == [r["id"] for r in rows[offset : offset + 40]]
        assert body["rows"][0]["text"] == rows[offset]["text"]
    for lo in (2500, 6100):
        url = f"/datasets/{dataset}?id__gte={lo}&id__lt={lo + 300}&word__ne=w3&limit=50&offset=20"
        body = client.get(url).json()
        wanted = [r for r in rows if lo <= r["id"] < lo + 300 and r["word"] not in (None, "w3")]
        assert body["total_rows"] == len(wanted)
        assert body["rows"] == [{k: as_json(v) for k, v in r.items()} for r in wanted[20:70]]
