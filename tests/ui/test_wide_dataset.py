"""A dataset as wide as MINI_MAX_COLUMNS allows (2,000 columns) in a real browser: the
page shows COLUMN_WINDOW columns at a time and moves across them with plain links that
keep the version, filters, sort and row paging.

Expected names and values come from the stored Parquet file read with pyarrow.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from playwright.sync_api import Browser, Page, Response, expect

from api.routes.ui import COLUMN_WINDOW, DIFF_ITEMS_SHOWN, PROJECTION_BYTES, REPORT_PAGE_BYTES
from core import keys
from tests.servers.api import ApiServer

from .conftest import parquet_table, shot, upload

WIDTH = 2000  # MINI_MAX_COLUMNS' default
ROWS = 30
# The page of the widest allowed dataset, whatever its width: measured 26 KB (4.4 MB when
# it held every column).
PAGE_BYTES_BOUND = 64 * 1024
# A rejected row of the file is ~10 KB of raw text; the rejects tab shows this much.
CELL_TEXT_MAX = 300


def wide_csv(path: Path) -> Path:
    """c0 text, c1 the row number, c2 a few repeated values (ties to sort), then every
    third column text and the others numbers; one row with a field too many (a reject)."""

    def value(r: int, i: int) -> str:
        if i == 1:
            return str(r)
        if i == 2:
            return str(r * 7 % 5)
        return f"t{r}-{i}" if i % 3 == 0 else str(r * WIDTH + i)

    lines = [",".join(f"c{i}" for i in range(WIDTH))]
    lines += [",".join(value(r, i) for i in range(WIDTH)) for r in range(ROWS)]
    lines.append(",".join(value(ROWS, i) for i in range(WIDTH + 1)))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def wide(api_client: httpx.Client, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """(name, version id) of a 2,000-column dataset."""
    name = f"wide-{uuid.uuid4().hex[:8]}"
    path = wide_csv(tmp_path_factory.mktemp("wide") / "wide.csv")
    return name, upload(api_client, path, name)


def rows_request(page: Page, dataset_id: str) -> Any:
    def match(response: Response) -> bool:
        return f"/datasets/{dataset_id}?" in response.url

    return page.expect_response(match)


def settled(page: Page) -> None:
    expect(page.locator("#rows-scroll")).to_have_attribute("aria-busy", "false")


def header_names(page: Page) -> list[str]:
    names: list[str] = page.locator("#rows-table thead th[data-column]").evaluate_all(
        "cells => cells.map(c => c.dataset.column)"
    )
    return names


def first_column_texts(page: Page) -> list[str]:
    texts: list[str] = page.locator("#rows-table tbody tr td:first-child").evaluate_all(
        "cells => cells.map(c => c.textContent)"
    )
    return texts


def query_of(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def test_the_page_of_2000_columns_is_small_and_shows_the_first_window(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, wide: tuple[str, str]
) -> None:
    name, version_id = wide
    table = parquet_table(ui_api, version_id)
    assert table.num_columns == WIDTH
    html = api_client.get(f"/ui/datasets/{name}")
    assert html.status_code == 200
    assert len(html.content) < PAGE_BYTES_BOUND, len(html.content)

    with rows_request(page, version_id) as answer:
        page.goto(f"{ui_api.url}/ui/datasets/{name}")
    settled(page)
    window = table.column_names[:COLUMN_WINDOW]
    # Only the window's columns are asked for, and shown.
    assert query_of(answer.value.url)["columns"] == [",".join(window)]
    assert header_names(page) == window
    expect(page.locator("#column-pager [data-cols=info]")).to_have_text(
        f"Columns 1\u2013{COLUMN_WINDOW} of {WIDTH:,}"
    )
    expect(page.locator("#summary [data-card=columns] dd")).to_have_text(f"{WIDTH:,}")
    expect(page.locator("#column-pager [data-cols=prev]")).to_have_attribute(
        "aria-disabled", "true"
    )
    first_row: list[str] = (
        page.locator("#rows-table tbody tr").first.locator("td").all_inner_texts()
    )
    assert first_row == [str(table[c][0].as_py()) for c in window]
    # The chart's column list is the window too.
    expect(page.locator("#column-select option[value]:not([value=''])")).to_have_count(
        COLUMN_WINDOW
    )
    shot(page, "wide-first-window", full_page=False)


def test_next_columns_by_keyboard_keeps_version_filters_and_sort(
    page: Page, ui_api: ApiServer, wide: tuple[str, str]
) -> None:
    name, version_id = wide
    table = parquet_table(ui_api, version_id)
    with rows_request(page, version_id):
        page.goto(f"{ui_api.url}/ui/datasets/{name}?version=1")
    settled(page)
    with rows_request(page, version_id):
        page.get_by_label("Filter c1", exact=True).fill(">=10")
        page.get_by_label("Filter c1", exact=True).press("Enter")
    settled(page)
    with rows_request(page, version_id):
        page.locator("#rows-table thead button.sort-button[data-column=c2]").click()
    settled(page)

    with rows_request(page, version_id) as answer:
        page.get_by_role("link", name="Next columns").first.focus()
        page.keyboard.press("Enter")
    settled(page)
    params = query_of(page.url)
    assert params["version"] == ["1"]
    assert params["filter.c1"] == [">=10"]
    assert params["sort"] == ["c2"]
    assert params["col_offset"] == [str(COLUMN_WINDOW)]
    window = table.column_names[COLUMN_WINDOW : 2 * COLUMN_WINDOW]
    assert query_of(answer.value.url)["columns"] == [",".join(window)]
    assert header_names(page) == window
    expect(page.locator("#column-pager [data-cols=info]")).to_have_text(
        f"Columns {COLUMN_WINDOW + 1}\u2013{2 * COLUMN_WINDOW} of {WIDTH:,}"
    )
    # The filter and sort on columns now out of view still apply, and the page says so.
    expect(page.locator("#hidden-query")).to_contain_text("c1 filtered by “>=10”")
    expect(page.locator("#hidden-query")).to_contain_text("sorted by c2")
    expected = table.filter(pc.greater_equal(table["c1"], 10)).sort_by("c2")
    assert first_column_texts(page) == [str(v) for v in expected[window[0]].to_pylist()]
    expect(page.locator("#row-range")).to_have_text(
        f"Rows 1\u2013{expected.num_rows} of {expected.num_rows} matching"
    )

    with rows_request(page, version_id):
        page.get_by_role("link", name="Previous columns").first.click()
    settled(page)
    assert "col_offset" not in query_of(page.url)
    expect(page.get_by_label("Filter c1", exact=True)).to_have_value(">=10")
    expect(page.locator("#hidden-query")).to_be_hidden()

    # The last window holds what is left.
    with rows_request(page, version_id):
        page.get_by_role("link", name="Last columns").first.click()
    settled(page)
    last = (WIDTH - 1) // COLUMN_WINDOW * COLUMN_WINDOW
    assert header_names(page) == table.column_names[last:]
    assert query_of(page.url)["filter.c1"] == [">=10"]
    expect(page.locator("#column-pager [data-cols=next]")).to_have_attribute(
        "aria-disabled", "true"
    )


def test_go_to_a_column(page: Page, ui_api: ApiServer, wide: tuple[str, str]) -> None:
    name, version_id = wide
    with rows_request(page, version_id):
        page.goto(f"{ui_api.url}/ui/datasets/{name}")
    settled(page)
    with rows_request(page, version_id):
        page.get_by_label("Go to column").fill("C1234")
        page.get_by_label("Go to column").press("Enter")
    settled(page)
    assert query_of(page.url)["col_offset"] == ["1200"]
    assert "c1234" in header_names(page)
    expect(page.locator("#column-pager [data-cols=info]")).to_have_text(
        f"Columns 1,201\u2013{1200 + COLUMN_WINDOW:,} of {WIDTH:,}"
    )

    with rows_request(page, version_id):
        page.get_by_label("Go to column").fill("nothing-like-it")
        page.get_by_label("Go to column").press("Enter")
    settled(page)
    expect(page.locator("#column-find-error")).to_have_text(
        "No column is named like “nothing-like-it”."
    )
    expect(page.get_by_label("Go to column")).to_have_attribute("aria-invalid", "true")


def test_column_links_work_without_script(
    browser: Browser, ui_api: ApiServer, wide: tuple[str, str]
) -> None:
    name, _ = wide
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{ui_api.url}/ui/datasets/{name}?version=1&filter.c1=%3E3&sort=-c2")
        page.get_by_role("link", name="Next columns").first.click()
        expect(page.locator("#column-pager [data-cols=info]")).to_have_text(
            f"Columns {COLUMN_WINDOW + 1}\u2013{2 * COLUMN_WINDOW} of {WIDTH:,}"
        )
        assert query_of(page.url) == {
            "version": ["1"],
            "filter.c1": [">3"],
            "sort": ["-c2"],
            "col_offset": [str(COLUMN_WINDOW)],
        }
        page.get_by_label("Go to column").fill("c1999")
        page.get_by_label("Go to column").press("Enter")
        expect(page.locator("#column-pager [data-cols=info]")).to_have_text(
            f"Columns 1,951\u20132,000 of {WIDTH:,}"
        )
        assert query_of(page.url)["filter.c1"] == [">3"]
    finally:
        context.close()


def test_report_and_rejects_tabs_are_bounded(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, wide: tuple[str, str]
) -> None:
    name, version_id = wide
    table = parquet_table(ui_api, version_id)
    with rows_request(page, version_id):
        page.goto(f"{ui_api.url}/ui/datasets/{name}?col_offset={COLUMN_WINDOW}")
    settled(page)
    page.get_by_role("tab", name="Report").click()
    rows = page.locator("#report-columns tbody th")
    expect(rows).to_have_count(COLUMN_WINDOW)
    assert rows.all_inner_texts() == table.column_names[COLUMN_WINDOW : 2 * COLUMN_WINDOW]
    # The whole report (~1 MB of JSON for 2,000 columns) is a link, not printed.
    expect(page.locator("#report-too-big")).to_be_visible()
    expect(page.locator("details.raw")).to_have_count(0)
    # The report's own column links come back to the report tab, one window on.
    page.locator("#report-column-pager a[data-cols=next]").click()
    expect(page.get_by_role("tab", name="Report")).to_have_attribute("aria-selected", "true")
    expect(page.locator("#report-columns tbody th").first).to_have_text(
        table.column_names[2 * COLUMN_WINDOW]
    )
    expect(page.locator("#report-columns-heading")).to_be_in_viewport()

    rejects = api_client.get(f"/datasets/{version_id}/rejects").json()
    assert rejects["total"] == 1
    assert len(rejects["items"][0]["raw"]) > 10 * CELL_TEXT_MAX
    page.get_by_role("tab", name="Rejects").click()
    cells = page.locator("#rejects-body tbody td")
    expect(cells.first).to_be_visible()
    longest = max(len(t) for t in cells.all_inner_texts())
    assert longest <= CELL_TEXT_MAX + 1, longest


def test_a_long_schema_diff_lists_a_bounded_number_of_changes(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    name = f"grows-{uuid.uuid4().hex[:8]}"
    added = DIFF_ITEMS_SHOWN + 10
    v1 = tmp_path / "v1.csv"
    v1.write_text("a\n1\n2\n", encoding="utf-8")
    v2 = tmp_path / "v2.csv"
    head = ",".join(["a", *(f"x{i}" for i in range(added))])
    v2.write_text(f"{head}\n" + ",".join(["3", *("7" for _ in range(added))]) + "\n")
    upload(api_client, v1, name)
    second = upload(api_client, v2, name)
    with rows_request(page, second):
        page.goto(f"{ui_api.url}/ui/datasets/{name}")
    settled(page)
    page.get_by_role("tab", name="Report").click()
    expect(page.locator("#schema-diff [data-change=added]")).to_have_count(DIFF_ITEMS_SHOWN)
    expect(page.locator("#schema-diff-more")).to_contain_text("And 10 more changes")
    expect(page.locator("#schema-note")).to_contain_text(f"{added} columns added")


def test_long_column_names_make_shorter_windows(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    """Survey exports name columns by their questions: fifty such names in `?columns=`
    would pass the server's URL limit, so the window holds fewer."""
    path = tmp_path / "survey.csv"
    head = [f"q{i:03d}_" + "how_satisfied_were_you_with_the_service_" * 5 for i in range(120)]
    path.write_text(",".join(head) + "\n" + ",".join("4" for _ in head) + "\n")
    version_id = upload(api_client, path, f"survey-{uuid.uuid4().hex[:8]}")
    names = parquet_table(ui_api, version_id).column_names
    with rows_request(page, version_id) as answer:
        page.goto(f"{ui_api.url}/ui/datasets/{version_id}")
    settled(page)
    shown = header_names(page)
    assert 0 < len(shown) < COLUMN_WINDOW
    assert shown == names[: len(shown)]
    assert len(",".join(shown)) <= PROJECTION_BYTES
    assert answer.value.status == 200
    with rows_request(page, version_id):
        page.get_by_role("link", name="Next columns").first.click()
    settled(page)
    assert header_names(page)[0] == names[len(shown)]
    with rows_request(page, version_id):
        page.get_by_role("link", name="Previous columns").first.click()
    settled(page)
    assert header_names(page) == shown


def test_a_report_too_big_to_read_for_a_page_is_a_link(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    """A report's size follows the values it quotes, which the file sets (a wide file of
    long texts): past REPORT_PAGE_BYTES the page links to it instead of reading it."""
    path = tmp_path / "small.csv"
    path.write_text("a,b\n1,x\n2,y\n", encoding="utf-8")
    version_id = upload(api_client, path, f"bigreport-{uuid.uuid4().hex[:8]}")
    stored = ui_api.data_dir / "objects" / "processed" / keys.report_key(version_id)
    report = json.loads(stored.read_text("utf-8"))
    report["padding"] = "x" * REPORT_PAGE_BYTES
    stored.write_text(json.dumps(report), encoding="utf-8")

    html = api_client.get(f"/ui/datasets/{version_id}")
    assert html.status_code == 200
    assert len(html.content) < PAGE_BYTES_BOUND, len(html.content)
    with rows_request(page, version_id):
        page.goto(f"{ui_api.url}/ui/datasets/{version_id}")
    settled(page)
    assert header_names(page) == ["a", "b"]
    page.get_by_role("tab", name="Report").click()
    expect(page.locator("#report-too-big")).to_contain_text("too much to show here")
    link = page.locator("#report-too-big a")
    expect(link).to_have_attribute("href", f"/datasets/{version_id}/report")


def test_narrow_dataset_has_no_column_controls(
    page: Page, ui_api: ApiServer, airedale_id: str
) -> None:
    table: pa.Table = parquet_table(ui_api, airedale_id)
    assert table.num_columns <= COLUMN_WINDOW
    with rows_request(page, airedale_id) as answer:
        page.goto(f"{ui_api.url}/ui/datasets/{airedale_id}")
    settled(page)
    assert "columns" not in query_of(answer.value.url)
    expect(page.locator("#column-pager")).to_have_count(0)
    assert header_names(page) == table.column_names
