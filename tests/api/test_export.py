"""Downloads over HTTP: CSV, JSON Lines and Parquet, with the JSON API's filters, sort and
projection, formula-safe CSV, and memory that does not grow with the file."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from typing import Any

import httpx
import psutil
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from core import keys
from tests.api.parquet_fixtures import as_json, orders_rows, parquet_bytes, register
from tests.api.test_query import python_sort, walk
from tests.servers.api import ApiServer

ROWS_DATA = orders_rows()
DATA = parquet_bytes(ROWS_DATA)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@pytest.fixture(scope="module")
def orders(local_api: ApiServer) -> str:
    return register(local_api, DATA, name="orders")


def _csv_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_csv_honours_filters_sort_projection(client: httpx.Client, orders: str) -> None:
    r = client.get(
        f"/datasets/{orders}/download?format=csv&qty__lt=6&city__ne=Oslo"
        "&sort=-amount,id&columns=id,amount,city,delta"
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"].startswith('attachment; filename="orders-v1.csv"')
    rows = [x for x in ROWS_DATA if x["qty"] < 6 and x["city"] is not None and x["city"] != "Oslo"]
    expected = [
        [_csv_text(x[c]) for c in ("id", "amount", "city", "delta")]
        for x in python_sort(rows, [("amount", True), ("id", False)])
    ]
    table = list(csv.reader(io.StringIO(r.text)))
    assert table[0] == ["id", "amount", "city", "delta"]
    assert table[1:] == expected
    # Negative numbers are numbers, not formulas: they are written as they are.
    assert any(row[3].startswith("-") for row in table[1:])


def test_csv_neutralises_formulas_without_touching_stored_data(
    client: httpx.Client, orders: str
) -> None:
    r = client.get(f"/datasets/{orders}/download?format=csv&columns=id,note")
    rows = list(csv.reader(io.StringIO(r.text, newline="")))[1:]
    assert len(rows) == len(ROWS_DATA)
    for (rid, note), source in zip(rows, ROWS_DATA, strict=True):
        assert int(rid) == source["id"]
        original = source["note"]
        if original.startswith(FORMULA_START):
            assert note == "'" + original
        else:
            assert note == original
    assert any(n == "'=1+1" for _, n in rows) and any(n == "'\rcr" for _, n in rows)
    served = client.get(f"/datasets/{orders}?id=0&columns=note").json()["rows"]
    assert served == [{"note": "=1+1"}]


def test_jsonl_equals_the_json_pages(client: httpx.Client, orders: str) -> None:
    query = "paid=true&sort=city,-ts&columns=id,ts,tsz,day,city,amount"
    r = client.get(f"/datasets/{orders}/download?format=jsonl&{query}")
    assert r.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in r.text.splitlines()]
    paged = [
        row for body in walk(client, f"/datasets/{orders}?limit=50&{query}") for row in body["rows"]
    ]
    assert lines == paged
    expected = python_sort(
        [x for x in ROWS_DATA if x["paid"] is True], [("city", False), ("ts", True)]
    )
    assert [x["id"] for x in lines] == [x["id"] for x in expected]
    assert lines[0] == {
        k: as_json(expected[0][k]) for k in ("id", "ts", "tsz", "day", "city", "amount")
    }


def test_parquet_whole_file_is_the_stored_object(
    client: httpx.Client, orders: str, local_api: ApiServer
) -> None:
    r = client.get(f"/datasets/{orders}/download?format=parquet")
    stored = (local_api.data_dir / "objects" / "processed" / keys.data_key(orders)).read_bytes()
    assert r.content == stored
    assert r.headers["content-length"] == str(len(stored))
    assert r.headers["content-type"] == "application/vnd.apache.parquet"


def test_parquet_with_a_query_is_written_on_the_fly(client: httpx.Client, orders: str) -> None:
    r = client.get(
        f"/datasets/{orders}/download?format=parquet&day__lt=2024-01-04&sort=-id&columns=id,day"
    )
    table = pq.read_table(io.BytesIO(r.content))
    assert table.schema.names == ["id", "day"]
    assert table.schema.field("day").type == pa.date32()
    expected = sorted(
        (x["id"] for x in ROWS_DATA if x["day"].isoformat() < "2024-01-04"), reverse=True
    )
    assert table.column("id").to_pylist() == expected


def test_download_errors_and_etag(client: httpx.Client, orders: str) -> None:
    assert client.get(f"/datasets/{orders}/download?format=xlsx").status_code == 422
    bad = client.get(f"/datasets/{orders}/download?qty__gt=x")
    assert bad.status_code == 422 and "qty" in bad.json()["error"]["message"]
    paged = client.get(f"/datasets/{orders}/download?limit=5")
    assert paged.status_code == 422 and "limit" in paged.json()["error"]["message"]
    assert client.get(f"/datasets/{'0' * 32}/download").status_code == 404
    first = client.get(f"/datasets/{orders}/download?format=jsonl&qty=1")
    tag = first.headers["etag"]
    again = client.get(
        f"/datasets/{orders}/download?format=jsonl&qty=1", headers={"If-None-Match": tag}
    )
    assert again.status_code == 304 and again.content == b""
    other = client.get(f"/datasets/{orders}/download?format=csv&qty=1")
    assert other.headers["etag"] != tag


# -- constant memory ----------------------------------------------------------------------

BIG_ROWS = 4_000_000
BIG_GROUP = 100_000


def _big_parquet() -> bytes:
    ids = pa.array(range(BIG_ROWS), type=pa.int64())
    text = pc.binary_join_element_wise("row ", pc.cast(ids, pa.string()), " " + "x" * 60, "")
    key = pc.bit_wise_and(pc.multiply(ids, 7919), 0xFFFFF)
    out = io.BytesIO()
    pq.write_table(pa.table({"id": ids, "key": key, "text": text}), out, row_group_size=BIG_GROUP)
    return out.getvalue()


class PeakRss:
    """Samples a process's resident memory while a download runs."""

    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.base = self.proc.memory_info().rss
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.base) / 2**20


@pytest.fixture(scope="module")
def big(local_api: ApiServer) -> str:
    dataset = register(local_api, _big_parquet(), filename="big.csv")
    # One small export first: imports and allocator pools are one-off growth, not per-row.
    with httpx.Client(base_url=local_api.url, timeout=60) as c:
        for sort in ("", "&sort=-key"):
            c.get(f"/datasets/{dataset}/download?format=csv&id__lt=200000{sort}").raise_for_status()
    return dataset


@pytest.mark.slow
@pytest.mark.parametrize(
    ("sort", "limit_mib"),
    # Sorting holds the row order (≈ 40 bytes a row at its peak) and one 16 MiB chunk.
    [("", 48), ("&sort=-key", 220)],
    ids=["file-order", "sorted"],
)
def test_export_memory_does_not_grow_with_the_file(
    local_api: ApiServer, big: str, sort: str, limit_mib: int
) -> None:
    assert local_api.proc is not None
    received = 0
    ids: list[int] = []
    with (
        httpx.Client(base_url=local_api.url, timeout=300) as c,
        PeakRss(local_api.proc.pid) as rss,
        c.stream("GET", f"/datasets/{big}/download?format=csv{sort}") as r,
    ):
        assert r.status_code == 200
        for n, line in enumerate(r.iter_lines()):
            received += len(line) + 1
            if n % 250_000 == 1:
                ids.append(int(line.split(",", 1)[0]))
    # ≈ 350 MB of CSV, ≈ 360 MB decoded: buffering either would blow the limit.
    assert received > 300 * 2**20
    if not sort:
        assert ids == list(range(0, BIG_ROWS, 250_000))
    assert rss.growth_mib < limit_mib, f"server RSS grew by {rss.growth_mib:.0f} MiB"
