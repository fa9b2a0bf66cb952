"""/ui/datasets/{id} in a real browser: paging, sorting, filters, charts, tabs and downloads.

Expected values come from the stored Parquet file read with pyarrow, never from the page.
"""

from __future__ import annotations

import csv
import io
import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from playwright.sync_api import Page, Response, expect

from tests.servers.api import ApiServer

from .conftest import parquet_table, shot

PAGE_SIZE = 50


def rows_request(page: Page, dataset_id: str) -> Any:
    """Wait for the page's next rows request to be answered (`.value` is the response)."""

    def match(response: Response) -> bool:
        return f"/datasets/{dataset_id}?" in response.url

    return page.expect_response(match)


def settled(page: Page) -> None:
    expect(page.locator("#rows-scroll")).to_have_attribute("aria-busy", "false")


def open_dataset(page: Page, server: ApiServer, dataset_id: str) -> None:
    with rows_request(page, dataset_id):
        page.goto(f"{server.url}/ui/datasets/{dataset_id}")
    settled(page)


def column_texts(page: Page, table: pa.Table, name: str) -> list[str]:
    index = table.column_names.index(name)
    texts: list[str] = page.locator(f"#rows-table tbody tr td:nth-child({index + 1})").evaluate_all(
        "cells => cells.map(c => c.textContent)"
    )
    return texts


def identity_column(table: pa.Table) -> str:
    """A column whose values name each row: unique, never null."""
    for name in table.column_names:
        col = table[name]
        if col.null_count == 0 and len(pc.unique(col)) == table.num_rows:
            return name
    raise AssertionError("the fixture needs a column of unique values")


def tied_int_column(table: pa.Table) -> str:
    """An integer column with many repeated values, so sorting it has ties to break."""
    for name in table.column_names:
        col = table[name]
        if (
            pa.types.is_integer(col.type)
            and col.null_count == 0
            and 1 < len(pc.unique(col)) < table.num_rows // 2
        ):
            return name
    raise AssertionError("the fixture needs an integer column with ties")


def filter_target(table: pa.Table) -> tuple[str, str, int]:
    """A text column and a value that matches a fair share of rows, the same in any case."""
    for name in table.column_names:
        col = table[name]
        if not pa.types.is_string(col.type):
            continue
        counts = pc.value_counts(pc.drop_null(col)).to_pylist()
        if not counts:
            continue
        top = max(counts, key=lambda c: c["counts"])
        value = top["values"]
        hits = int(pc.sum(pc.fill_null(pc.match_substring(col, value), False)).as_py() or 0)
        any_case = pc.match_substring(col, value, ignore_case=True)
        if 0.05 * table.num_rows <= hits <= 0.6 * table.num_rows and hits == int(
            pc.sum(pc.fill_null(any_case, False)).as_py() or 0
        ):
            return name, value, hits
    raise AssertionError("the fixture needs a text column to filter on")


def row_range(first: int, last: int, total: int, *, matching: bool = False) -> str:
    """The page's "Rows 1 to 50 of 2,132" line, with an en dash and thousands separators."""
    return f"Rows {first:,}\u2013{last:,} of {total:,}" + (" matching" if matching else "")


def as_text(values: list[object]) -> list[str]:
    return ["null" if v is None else str(v) for v in values]


def test_pages_through_rows(page: Page, ui_api: ApiServer, messy_id: str) -> None:
    table = parquet_table(ui_api, messy_id)
    ident = identity_column(table)
    expected = as_text(table[ident].to_pylist())
    total = table.num_rows
    open_dataset(page, ui_api, messy_id)
    expect(page.get_by_role("heading", level=1)).to_have_text("211.csv")
    expect(page.locator("#row-range")).to_have_text(row_range(1, PAGE_SIZE, total))
    assert column_texts(page, table, ident) == expected[:PAGE_SIZE]
    expect(page.locator("#page-prev")).to_be_disabled()
    shot(page, "dataset-first-page")

    with rows_request(page, messy_id):
        page.get_by_role("button", name="Next", exact=True).click()
    settled(page)
    expect(page.locator("#row-range")).to_have_text(row_range(51, 100, total))
    expect(page.locator("#page-info")).to_have_text(f"Page 2 of {-(-total // PAGE_SIZE)}")
    assert column_texts(page, table, ident) == expected[PAGE_SIZE : 2 * PAGE_SIZE]

    with rows_request(page, messy_id):
        page.get_by_role("button", name="Last", exact=True).click()
    settled(page)
    last_offset = (total - 1) // PAGE_SIZE * PAGE_SIZE
    expect(page.locator("#row-range")).to_have_text(row_range(last_offset + 1, total, total))
    assert column_texts(page, table, ident) == expected[last_offset:]
    expect(page.locator("#page-next")).to_be_disabled()

    with rows_request(page, messy_id):
        page.get_by_role("button", name="Previous", exact=True).click()
    settled(page)
    assert column_texts(page, table, ident) == expected[last_offset - PAGE_SIZE : last_offset]

    with rows_request(page, messy_id):
        page.get_by_label("Rows per page").select_option("100")
    settled(page)
    expect(page.locator("#rows-table tbody tr")).to_have_count(100)

    # The view lives in the URL: a reload comes back to the same page.
    offset = parse_qs(urlsplit(page.url).query)["offset"][0]
    with rows_request(page, messy_id):
        page.reload()
    settled(page)
    assert column_texts(page, table, ident) == expected[int(offset) : int(offset) + 100]


def test_sorting_by_clicking_headers_is_stable(
    page: Page, ui_api: ApiServer, messy_id: str
) -> None:
    """Depends on the query API's `sort` (ties broken by row order)."""
    table = parquet_table(ui_api, messy_id)
    ident = identity_column(table)
    key = tied_int_column(table)
    open_dataset(page, ui_api, messy_id)
    header = page.locator(f'#rows-table th[data-column="{key}"]')
    button = header.locator(".sort-button")

    for order, sort_param in (("ascending", key), ("descending", f"-{key}")):
        with rows_request(page, messy_id) as answer:
            button.click()
        settled(page)
        assert parse_qs(urlsplit(answer.value.url).query)["sort"] == [sort_param]
        expect(header).to_have_attribute("aria-sort", order)
        # pyarrow's sort_indices is stable: equal keys keep their row order.
        indices = pc.sort_indices(table, sort_keys=[(key, order)])
        expected = table.take(indices.slice(0, PAGE_SIZE))
        assert column_texts(page, table, key) == as_text(expected[key].to_pylist())
        assert column_texts(page, table, ident) == as_text(expected[ident].to_pylist())
        shot(page, f"dataset-sorted-{order}", full_page=False)

    with rows_request(page, messy_id):
        button.click()
    settled(page)
    expect(header).to_have_attribute("aria-sort", "none")
    assert column_texts(page, table, ident) == as_text(table[ident].to_pylist()[:PAGE_SIZE])


def test_filter_boxes_narrow_the_rows(page: Page, ui_api: ApiServer, messy_id: str) -> None:
    """Depends on the query API's filters (`__contains`, `__gt`) and its 422 for bad values."""
    table = parquet_table(ui_api, messy_id)
    name, value, hits = filter_target(table)
    open_dataset(page, ui_api, messy_id)

    box = page.get_by_label(f"Filter {name}", exact=True)
    with rows_request(page, messy_id) as answer:
        box.fill(value)
    settled(page)
    assert parse_qs(urlsplit(answer.value.url).query)[f"{name}__contains"] == [value]
    expect(page.locator("#row-range")).to_have_text(
        row_range(1, min(hits, PAGE_SIZE), hits, matching=True)
    )
    cells = column_texts(page, table, name)
    assert cells and all(value in c for c in cells), cells
    shot(page, "dataset-filtered", full_page=False)

    # A number filter with an operator, on top of the text filter.
    ident = identity_column(table)
    matching = table.filter(pc.fill_null(pc.match_substring(table[name], value), False))
    threshold = sorted(matching[ident].to_pylist())[len(matching) // 2]
    both = int(pc.sum(pc.greater(matching[ident], threshold)).as_py() or 0)
    with rows_request(page, messy_id) as answer:
        page.get_by_label(f"Filter {ident}", exact=True).fill(f">{threshold}")
    settled(page)
    assert parse_qs(urlsplit(answer.value.url).query)[f"{ident}__gt"] == [str(threshold)]
    expect(page.locator("#row-range")).to_contain_text(f"of {both:,} matching")
    assert all(float(c) > float(threshold) for c in column_texts(page, table, ident))

    # A value that does not fit the column's type: the API's 422, shown beside the box.
    with rows_request(page, messy_id):
        page.get_by_label(f"Filter {ident}", exact=True).fill(">not-a-number")
    alert = page.locator("#rows-error")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(ident)
    expect(page.get_by_label(f"Filter {ident}", exact=True)).to_have_attribute(
        "aria-invalid", "true"
    )

    with rows_request(page, messy_id):
        page.get_by_role("button", name="Clear filters and sort").click()
    settled(page)
    expect(page.locator("#row-range")).to_have_text(row_range(1, PAGE_SIZE, table.num_rows))
    expect(box).to_have_value("")


def test_column_charts_count_the_whole_column(page: Page, ui_api: ApiServer, messy_id: str) -> None:
    table = parquet_table(ui_api, messy_id)
    number = tied_int_column(table)
    text, _, _ = filter_target(table)
    open_dataset(page, ui_api, messy_id)

    page.get_by_role("button", name=f"Chart of {number}", exact=True).click()
    chart = page.locator("#chart")
    bars = chart.locator("svg[data-chart=histogram] rect.bar")
    expect(bars.first).to_be_attached()
    counts = [int(c) for c in bars.evaluate_all("bars => bars.map(b => b.dataset.count)")]
    non_null = table.num_rows - table[number].null_count
    assert sum(counts) == non_null
    expect(page.get_by_role("button", name=f"Chart of {number}", exact=True)).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(chart.locator("h3")).to_have_text(number)
    shot(page, "dataset-histogram", full_page=False)

    # The column picker reaches the same charts without the table header.
    page.get_by_label("Chart of column").select_option(text)
    top_bars = chart.locator("svg[data-chart=top_values] rect.bar")
    expect(top_bars.first).to_be_attached()
    frequencies = pc.value_counts(pc.drop_null(table[text])).to_pylist()
    most = max(f["counts"] for f in frequencies)
    first_value = top_bars.first.get_attribute("data-value")
    assert int(top_bars.first.get_attribute("data-count") or 0) == most
    assert {"values": first_value, "counts": most} in frequencies
    shown = [int(c) for c in top_bars.evaluate_all("bars => bars.map(b => b.dataset.count)")]
    assert shown == sorted((f["counts"] for f in frequencies), reverse=True)[: len(shown)]
    page.locator("#column-panel").scroll_into_view_if_needed()
    shot(page, "dataset-top-values", full_page=False)


def test_date_and_amount_charts(page: Page, ui_api: ApiServer, airedale_id: str) -> None:
    table = parquet_table(ui_api, airedale_id)
    temporal = [n for n in table.column_names if pa.types.is_date(table[n].type)]
    floats = [n for n in table.column_names if pa.types.is_floating(table[n].type)]
    if not temporal or not floats:
        pytest.fail(f"airedale.csv should type a date and an amount column: {table.schema}")
    open_dataset(page, ui_api, airedale_id)
    for name in (temporal[0], floats[0]):
        page.get_by_role("button", name=f"Chart of {name}", exact=True).click()
        expect(page.locator("#chart")).to_have_attribute("data-column", name)
        bars = page.locator("#chart svg[data-chart=histogram] rect.bar")
        expect(bars.first).to_be_attached()
        counts = [int(c) for c in bars.evaluate_all("bars => bars.map(b => b.dataset.count)")]
        assert sum(counts) == table.num_rows - table[name].null_count
    lowest = pc.min(table[temporal[0]]).as_py().isoformat()
    page.get_by_role("button", name=f"Chart of {temporal[0]}", exact=True).click()
    expect(page.locator("#chart .chart-facts")).to_contain_text(lowest)
    shot(page, "dataset-date-histogram", full_page=False)


def test_report_rejects_and_logs_tabs_by_keyboard(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, airedale_id: str
) -> None:
    open_dataset(page, ui_api, airedale_id)
    rows_tab = page.get_by_role("tab", name="Rows")
    rows_tab.focus()
    expect(rows_tab).to_have_attribute("aria-selected", "true")

    page.keyboard.press("ArrowRight")
    report_tab = page.get_by_role("tab", name="Report")
    expect(report_tab).to_be_focused()
    page.keyboard.press("Enter")
    expect(report_tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#panel-rows")).to_be_hidden()
    report = api_client.get(f"/datasets/{airedale_id}/report").json()
    panel = page.locator("#panel-report")
    expect(panel).to_be_visible()
    expect(panel.locator("[data-fact=encoding]")).to_contain_text(report["source"]["encoding"])
    expect(panel.locator("#report-columns tbody tr")).to_have_count(len(report["columns"]))

    page.keyboard.press("ArrowRight")
    rejects_tab = page.get_by_role("tab", name="Rejects")
    expect(rejects_tab).to_be_focused()
    page.keyboard.press(" ")
    expect(rejects_tab).to_have_attribute("aria-selected", "true")
    rejects = api_client.get(f"/datasets/{airedale_id}/rejects", params={"limit": 100})
    body = page.locator("#rejects-body")
    expect(body).to_have_attribute("data-state", str(rejects.status_code))
    if rejects.status_code == 404:
        expect(body).to_contain_text(re.compile("No rejected rows|not available"))
    else:
        assert rejects.status_code == 200, rejects.text
        items = next(v for v in rejects.json().values() if isinstance(v, list))
        if items:
            expect(body.locator("tbody tr")).to_have_count(len(items))
        else:
            expect(body).to_have_text("No rejected rows.")
    shot(page, "dataset-rejects", full_page=False)

    page.keyboard.press("End")
    logs_tab = page.get_by_role("tab", name="Logs")
    expect(logs_tab).to_be_focused()
    page.keyboard.press("Enter")
    logs = api_client.get(f"/datasets/{airedale_id}/logs")
    logs_body = page.locator("#logs-body")
    expect(logs_body).to_have_attribute("data-state", str(logs.status_code))
    if logs.status_code == 404:
        expect(logs_body).to_have_text("No logs are available for this dataset.")
    else:
        assert logs.status_code == 200, logs.text
        expect(logs_body.locator("pre.log, .empty-state")).to_be_visible()
    shot(page, "dataset-logs", full_page=False)

    page.keyboard.press("Home")
    expect(rows_tab).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#panel-rows")).to_be_visible()


def test_downloads_follow_the_current_sort_and_filters(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, messy_id: str
) -> None:
    """The links always carry the view; the CSV itself depends on the export API."""
    table = parquet_table(ui_api, messy_id)
    ident = identity_column(table)
    name, value, hits = filter_target(table)
    open_dataset(page, ui_api, messy_id)
    with rows_request(page, messy_id):
        page.get_by_label(f"Filter {name}", exact=True).fill(value)
    settled(page)
    with rows_request(page, messy_id):
        page.locator(f'#rows-table th[data-column="{ident}"] .sort-button').click()
    settled(page)
    with rows_request(page, messy_id):
        page.locator(f'#rows-table th[data-column="{ident}"] .sort-button').click()
    settled(page)

    for fmt in ("csv", "jsonl", "parquet"):
        href = page.get_by_role("link", name=fmt.upper(), exact=True).get_attribute("href") or ""
        parts = urlsplit(href)
        assert parts.path == f"/datasets/{messy_id}/download"
        assert parse_qs(parts.query) == {
            "format": [fmt],
            "sort": [f"-{ident}"],
            f"{name}__contains": [value],
        }

    href = page.get_by_role("link", name="CSV", exact=True).get_attribute("href")
    answer = api_client.get(str(href))
    assert answer.status_code == 200, answer.text
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == hits
    matching = table.filter(pc.fill_null(pc.match_substring(table[name], value), False))
    expected = sorted(matching[ident].to_pylist(), reverse=True)
    assert [int(r[ident]) for r in rows] == expected
