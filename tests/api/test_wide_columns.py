"""The widest allowed dataset (MINI_MAX_COLUMNS, 2,000 columns) served by the real API:
every answer about it stays bounded in size, and `?columns=` projects.

Sizes and structure only; the times are in the README (Limits: wide files).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from api.query.service import COLUMNS_IN_ERRORS
from api.serving import MAX_LIMIT, MAX_PAGE_VALUES
from core import keys
from tests.servers.api import ApiServer, wait_final

WIDTH = 2000
# More rows than a page of every column holds (MAX_PAGE_VALUES // WIDTH = 250).
ROWS = 260
WINDOW = [f"c{i}" for i in range(1000, 1050)]


def wide_csv() -> bytes:
    """c1 the row number; every fifth column text, the others numbers."""
    head = ",".join(f"c{i}" for i in range(WIDTH))
    rows = (
        ",".join(
            str(r) if i == 1 else f"t{r}.{i}" if i % 5 == 0 else str(r * WIDTH + i)
            for i in range(WIDTH)
        )
        for r in range(ROWS)
    )
    return (head + "\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture(scope="module")
def wide(local_api: ApiServer) -> Iterator[tuple[httpx.Client, str, pa.Table]]:
    """A client, the dataset's version id and its stored Parquet table (the oracle)."""
    with httpx.Client(base_url=local_api.url, timeout=120) as c:
        r = c.post(
            "/upload",
            params={"name": "wide"},
            content=wide_csv(),
            headers={"Content-Type": "text/csv"},
        )
        assert r.status_code == 202, r.text
        version_id = r.json()["id"]
        status = wait_final(c, version_id, timeout=600)
        assert status["status"] == "ready", status
        path = local_api.data_dir / "objects" / "processed" / keys.data_key(version_id)
        yield c, version_id, pq.read_table(path)


def test_a_page_of_one_row_holds_every_column_and_stays_small(
    wide: tuple[httpx.Client, str, pa.Table],
) -> None:
    c, _, table = wide
    assert table.num_columns == WIDTH
    answer = c.get("/datasets/wide", params={"limit": 1})
    assert answer.status_code == 200
    body = answer.json()
    assert [col["name"] for col in body["columns"]] == table.column_names
    assert body["rows"] == table.slice(0, 1).to_pylist()
    # ~30 bytes a column for the schema and the row: 2,000 columns stay under 128 KB.
    assert len(answer.content) < 128 * 1024, len(answer.content)


def test_columns_projects_the_rows_with_filters_and_sort_on_other_columns(
    wide: tuple[httpx.Client, str, pa.Table],
) -> None:
    c, _, table = wide
    answer = c.get(
        "/datasets/wide",
        params={"columns": ",".join(WINDOW), "c1__gte": 10, "sort": "-c1", "limit": 5},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert [col["name"] for col in body["columns"]] == WINDOW
    expected = table.filter(pc.greater_equal(table["c1"], 10)).sort_by([("c1", "descending")])
    assert body["total_rows"] == expected.num_rows
    assert body["rows"] == expected.select(WINDOW).slice(0, 5).to_pylist()
    assert all(list(row) == WINDOW for row in body["rows"])
    # Fifty columns of five rows, whatever the width of the file.
    assert len(answer.content) < 16 * 1024, len(answer.content)

    download = c.get("/datasets/wide/download", params={"columns": "c7,c1999", "c1__lt": 3})
    assert download.status_code == 200
    rows = list(csv.reader(io.StringIO(download.text)))
    assert rows[0] == ["c7", "c1999"]
    assert len(rows) == 1 + 3


def test_a_page_holds_a_bounded_number_of_values(
    wide: tuple[httpx.Client, str, pa.Table],
) -> None:
    """MAX_LIMIT rows of 2,000 columns would be 20 million values: the page holds fewer
    rows, says how many in `limit`, and `next` goes on from there."""
    c, _, table = wide
    body = c.get("/datasets/wide", params={"limit": MAX_LIMIT}).json()
    per_page = MAX_PAGE_VALUES // WIDTH
    assert body["limit"] == per_page < ROWS
    assert body["rows"] == table.slice(0, per_page).to_pylist()
    rest = c.get(body["next"]).json()
    assert rest["rows"] == table.slice(per_page).to_pylist()
    assert rest["next"] is None
    narrow = c.get("/datasets/wide", params={"limit": MAX_LIMIT, "columns": ",".join(WINDOW)})
    assert narrow.json()["limit"] == MAX_LIMIT
    assert narrow.json()["rows"] == table.select(WINDOW).to_pylist()


def test_an_unknown_column_is_a_bounded_422(wide: tuple[httpx.Client, str, pa.Table]) -> None:
    c, _, _ = wide
    answer = c.get("/datasets/wide", params={"columns": "c1,nope"})
    assert answer.status_code == 422
    message = answer.json()["error"]["message"]
    assert "unknown column(s): nope" in message
    assert f"and {WIDTH - COLUMNS_IN_ERRORS:,} more" in message
    assert "c1999" not in message
    assert len(answer.content) < 2048, len(answer.content)


def test_the_report_status_and_versions_stay_bounded(
    wide: tuple[httpx.Client, str, pa.Table],
) -> None:
    c, _, table = wide
    report = c.get("/datasets/wide/report")
    assert report.status_code == 200
    assert [col["name"] for col in report.json()["columns"]] == table.column_names
    # Every column's type, counts, extremes and ten top values: under 1 KB a column.
    assert len(report.content) < WIDTH * 1024, len(report.content)
    for path in ("/datasets/wide/status", "/datasets/wide/versions", "/datasets/wide/rejects"):
        answer = c.get(path)
        assert answer.status_code == 200, (path, answer.text[:200])
        # Nothing in them grows with the columns.
        assert len(answer.content) < 8 * 1024, (path, len(answer.content))
