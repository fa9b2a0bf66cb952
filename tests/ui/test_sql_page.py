"""The SQL page in Chromium: a query across two datasets, its table, its downloads, and
a refused statement shown as an error."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from tests.servers.api import ApiServer

from .conftest import shot, upload

JOIN = (
    "SELECT c.country, count(*) AS orders, sum(s.amount) AS total\n"
    'FROM "sql-sales" s JOIN "sql-cities" c USING (city)\n'
    "GROUP BY c.country ORDER BY c.country"
)


def _datasets(client: httpx.Client, tmp_path: Path) -> None:
    sales = tmp_path / "sales.csv"
    sales.write_text("id,city,amount\n1,Oslo,10\n2,Lyon,20\n3,Oslo,30\n")
    cities = tmp_path / "cities.csv"
    cities.write_text("city,country\nOslo,Norway\nLyon,France\n")
    upload(client, sales, "sql-sales")
    upload(client, cities, "sql-cities")


def test_a_query_across_two_datasets(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    _datasets(api_client, tmp_path)
    response = page.goto(f"{ui_api.url}/ui/sql")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.get_by_role("link", name="SQL", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    expect(page.locator(".sql-names")).to_contain_text('"sql-sales"')

    page.get_by_label("Query").fill(JOIN)
    page.get_by_role("button", name="Run").click()
    table = page.locator("#sql-table")
    expect(table.locator("thead th")).to_have_count(3)
    expect(table.locator("thead th").first).to_contain_text("country")
    expect(table.locator("tbody tr")).to_have_count(2)
    expect(table.locator("tbody tr").first).to_contain_text("France")
    expect(table.locator("tbody tr").nth(1)).to_contain_text("40")
    expect(page.locator("#sql-summary")).to_contain_text("2 rows")
    expect(page.locator("#sql-summary")).to_contain_text("sql-sales version 1")
    # The query stays in the form, ready to edit.
    expect(page.get_by_label("Query")).to_have_value(JOIN)
    shot(page, "sql-result")

    with page.expect_download() as info:
        page.locator('a[data-format="csv"]').click()
    text = Path(info.value.path()).read_text()
    assert text.splitlines() == ['"country","orders","total"', '"France",1,20', '"Norway",2,40']
    with page.expect_download() as info:
        page.locator('a[data-format="json"]').click()
    assert '"rows":[["France",1,20],["Norway",2,40]]' in Path(info.value.path()).read_text()


def test_a_refused_statement_is_shown(page: Page, ui_api: ApiServer) -> None:
    page.goto(f"{ui_api.url}/ui/sql")
    page.get_by_label("Query").fill("COPY (SELECT 1) TO '/tmp/x.csv'")
    page.get_by_role("button", name="Run").click()
    error = page.get_by_role("alert")
    expect(error).to_contain_text("sql_forbidden")
    expect(error).to_contain_text("only a read-only SELECT")
    expect(page.locator("#sql-table")).to_have_count(0)
    expect(page.get_by_label("Query")).to_have_value("COPY (SELECT 1) TO '/tmp/x.csv'")


def test_a_syntax_error_keeps_the_form_usable(page: Page, ui_api: ApiServer) -> None:
    page.goto(f"{ui_api.url}/ui/sql?q=SELEC+1")
    expect(page.get_by_role("alert")).to_contain_text("sql_syntax_error")
    page.get_by_label("Query").fill("SELECT 41 + 1 AS answer")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#sql-table tbody td")).to_have_text("42")
