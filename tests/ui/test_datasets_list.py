"""/ui/datasets and a dataset's page while it is still running.

Datasets that nobody will process are recorded straight in the real catalog, so
the test, not a race with the processor, decides when each status changes.
"""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Page, Request, expect

from core.catalog import new_dataset_id
from tests.servers.api import ApiServer

from .conftest import catalog_of, shot

DURATION = re.compile(r"^\d+(\.\d)? (ms|s|min)$")
REFRESH_WAIT_S = 4.0  # more than two of the page's 1.5 s refresh periods


def record_waiting(server: ApiServer, filename: str) -> str:
    dataset_id = new_dataset_id()
    catalog_of(server).add(
        dataset_id=dataset_id,
        filename=filename,
        raw_key=f"{dataset_id}/source.csv",
        sha256="0" * 64,
        size_bytes=1234,
    )
    return dataset_id


def test_list_shows_status_size_rows_and_timings(
    page: Page,
    ui_api: ApiServer,
    api_client: httpx.Client,
    messy_id: str,
    airedale_id: str,
) -> None:
    page.goto(f"{ui_api.url}/ui/datasets")
    expect(page.get_by_role("link", name="Datasets", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    for dataset_id, size in ((messy_id, "2.4 MB"), (airedale_id, "8.2 KB")):
        status = api_client.get(f"/datasets/{dataset_id}/status").json()
        row = page.locator(f'#datasets-rows tr[data-id="{dataset_id}"]')
        cells = row.locator("td")
        link = cells.nth(0).get_by_role("link")
        expect(link).to_have_text(status["filename"])
        expect(link).to_have_attribute("href", f"/ui/datasets/{dataset_id}")
        expect(cells.nth(1)).to_have_text("ready")
        expect(cells.nth(1).locator(".badge-ready")).to_be_visible()
        expect(cells.nth(2)).to_have_text(size)
        expect(cells.nth(3)).to_have_text(f"{status['rows_out']:,}")
        expect(cells.nth(4)).to_have_text(f"{status['rows_rejected'] or 0:,}")
        for timing in (cells.nth(6), cells.nth(7)):
            expect(timing).to_have_text(DURATION)
    shot(page, "datasets-list")


def test_list_refreshes_itself_while_anything_runs(page: Page, ui_api: ApiServer) -> None:
    catalog = catalog_of(ui_api)
    dataset_id = record_waiting(ui_api, "waiting.csv")
    page.goto(f"{ui_api.url}/ui/datasets")
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f'#datasets-rows tr[data-id="{dataset_id}"]')
    expect(row.locator(".badge")).to_have_text("queued")
    expect(page.locator("#list-summary")).to_contain_text("1 running, refreshing automatically")
    shot(page, "datasets-list-running")

    assert catalog.mark_processing(dataset_id)
    expect(row.locator(".badge")).to_have_text("processing")
    assert catalog.mark_failed(dataset_id, "the test stopped it on purpose")
    expect(row.locator(".badge")).to_have_text("failed")
    expect(row.locator(".row-error")).to_have_text("the test stopped it on purpose")
    expect(page.locator("#list-summary")).not_to_contain_text("running")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded instead of refreshing"

    # Nothing runs any more: the page stops asking.
    refreshes: list[str] = []

    def on_request(request: Request) -> None:
        if "fragment=rows" in request.url:
            refreshes.append(request.url)

    page.on("request", on_request)
    time.sleep(REFRESH_WAIT_S)
    assert refreshes == []


def test_dataset_page_follows_a_running_dataset_until_it_ends(
    page: Page, ui_api: ApiServer
) -> None:
    catalog = catalog_of(ui_api)
    dataset_id = record_waiting(ui_api, "slow.csv")
    page.goto(f"{ui_api.url}/ui/datasets/{dataset_id}")
    expect(page.locator("#dataset-status .badge")).to_have_text("queued")
    expect(page.get_by_role("status").filter(has_text="This dataset is queued")).to_be_visible()
    assert catalog.mark_processing(dataset_id)
    assert catalog.mark_failed(dataset_id, "no header row could be found")
    expect(page.locator("#dataset-status .badge")).to_have_text("failed", timeout=10_000)
    expect(page.get_by_role("alert")).to_have_text(
        "Processing failed: no header row could be found"
    )
    page.get_by_role("tab", name="Report").click()
    expect(page.locator("#panel-report")).to_contain_text("No report")
    shot(page, "dataset-failed")


def test_unknown_dataset_page_is_a_friendly_404(page: Page, ui_api: ApiServer) -> None:
    missing = new_dataset_id()
    answer = page.goto(f"{ui_api.url}/ui/datasets/{missing}")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("No such dataset")
    expect(page.get_by_role("main")).to_contain_text(missing)
