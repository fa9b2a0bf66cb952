"""/ui/datasets (one row per dataset name) and a dataset's page while it is still running.

Datasets that nobody will process are recorded straight in the real catalog, so
the test, not a race with the processor, decides when each status changes.
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import datetime

import httpx
from playwright.sync_api import Page, Request, expect

from core.catalog import new_dataset_id
from tests.servers.api import ApiServer

from .conftest import AIREDALE, catalog_of, shot, upload

WHEN = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$")
REFRESH_WAIT_S = 4.0  # more than two of the page's 1.5 s refresh periods


def record_waiting(server: ApiServer, filename: str, name: str | None = None) -> str:
    """A queued version nobody will process; without a name, a dataset of its own (named by
    its id, as an upload without a name is)."""
    dataset_id = new_dataset_id()
    catalog_of(server).add(
        dataset_id=dataset_id,
        filename=filename,
        raw_key=f"{dataset_id}/source.csv",
        sha256="0" * 64,
        size_bytes=1234,
        name=name or dataset_id,
    )
    return dataset_id


def test_list_shows_one_row_per_dataset_with_its_versions(
    page: Page,
    ui_api: ApiServer,
    api_client: httpx.Client,
    messy_id: str,
    airedale_id: str,
) -> None:
    # A named dataset with two versions is one row, not two.
    name = f"airedale-{uuid.uuid4().hex[:8]}"
    first = upload(api_client, AIREDALE, name)
    second = upload(api_client, AIREDALE, name)
    page.goto(f"{ui_api.url}/ui/datasets")
    expect(page.get_by_role("link", name="Datasets", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    listed = api_client.get("/datasets", params={"limit": 1000}).json()["items"]
    names = [item["name"] for item in listed]
    assert names.count(name) == 1
    expect(page.locator("#datasets-rows tr[data-name]")).to_have_count(min(len(listed), 50))
    expect(page.locator(f'#datasets-rows tr[data-id="{first}"]')).to_have_count(0)

    for dataset_name, size, versions, shown in (
        (messy_id, "2.4 MB", 1, None),
        (airedale_id, "8.2 KB", 1, None),
        (name, "8.2 KB", 2, name),
    ):
        item = next(i for i in listed if i["name"] == dataset_name)
        latest = item["latest_id"]
        status = api_client.get(f"/datasets/{latest}/status").json()
        row = page.locator(f'#datasets-rows tr[data-name="{dataset_name}"]')
        expect(row).to_have_attribute("data-id", latest)
        cells = row.locator("td")
        link = cells.nth(0).get_by_role("link")
        # An unnamed upload is shown by its file name; a named one by its name.
        expect(link).to_have_text(shown or status["filename"])
        expect(link).to_have_attribute("href", f"/ui/datasets/{dataset_name}")
        expect(cells.nth(1).locator(".badge-ready")).to_have_text("ready")
        ready = cells.nth(2).get_by_role("link")
        expect(ready).to_have_text(f"v{versions}")
        expect(ready).to_have_attribute("href", f"/ui/datasets/{dataset_name}?version={versions}")
        expect(cells.nth(3)).to_have_text(str(versions))
        expect(cells.nth(4)).to_have_text(f"{status['rows_out']:,}")
        expect(cells.nth(5)).to_have_text(f"{status['rows_rejected'] or 0:,}")
        expect(cells.nth(6)).to_have_text(size)
        expect(cells.nth(7)).to_have_text(WHEN)
        updated = cells.nth(7).locator("time").get_attribute("datetime") or ""
        assert datetime.fromisoformat(updated) == datetime.fromisoformat(str(status["finished_at"]))
    assert latest == second
    shot(page, "datasets-list")

    # The name filter narrows the list to that dataset.
    page.get_by_label("Name starts with").fill(name[:12])
    page.get_by_role("button", name="Filter", exact=True).click()
    expect(page.locator("#datasets-rows tr[data-name]")).to_have_count(1)
    expect(page.locator(f'#datasets-rows tr[data-name="{name}"]')).to_be_visible()
    assert "prefix=" in page.url


def test_list_refreshes_itself_while_anything_runs(page: Page, ui_api: ApiServer) -> None:
    catalog = catalog_of(ui_api)
    dataset_id = record_waiting(ui_api, "waiting.csv")
    page.goto(f"{ui_api.url}/ui/datasets")
    page.evaluate("window.__sameDocument = true")
    row = page.locator(f'#datasets-rows tr[data-name="{dataset_id}"]')
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
    expect(page.get_by_role("status").filter(has_text="Version 1 is queued")).to_be_visible()
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
