"""/upload in a real browser: pick or drop a file, watch the bytes go, then the processing."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.sync_api import Page, expect

from api.routes.ui import COLUMN_WINDOW
from tests.servers.api import ApiServer

from .conftest import AIREDALE, MESSY, shot

# Records every value the progress bar takes, so the test sees the bar move.
RECORD_PROGRESS = """
window.__progress = [];
document.addEventListener("DOMContentLoaded", () => {
  const bar = document.getElementById("upload-progress");
  if (!bar) return;
  new MutationObserver(() => window.__progress.push(Number(bar.getAttribute("value"))))
    .observe(bar, { attributes: true, attributeFilter: ["value"] });
});
"""
# Slow enough that a 2.3 MB upload takes about a second and reports progress on the way.
UPLOAD_BYTES_PER_SECOND = 2_000_000
FINAL = "#progress-section[data-status=ready], #progress-section[data-status=failed]"


def throttle_uploads(page: Page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 0,
            "downloadThroughput": -1,
            "uploadThroughput": UPLOAD_BYTES_PER_SECOND,
        },
    )


def shown_delimiter(delimiter: str) -> str:
    return {"\t": "tab", " ": "space"}.get(delimiter, delimiter)


def check_detection(page: Page, report: dict[str, object]) -> None:
    """The page shows what the report says: encoding, delimiter, header, column types."""
    source = report["source"]
    assert isinstance(source, dict)
    facts = page.locator("#detection")
    expect(facts.locator("[data-fact=encoding]")).to_contain_text(source["encoding"])
    expect(facts.locator("[data-fact=delimiter]")).to_contain_text(
        shown_delimiter(source["delimiter"])
    )
    header = source["header"]
    expected_header = f"line {header['line']}" if header["present"] else "none"
    expect(facts.locator("[data-fact=header]")).to_contain_text(expected_header)
    columns = report["columns"]
    assert isinstance(columns, list)
    # A wide file's types are shown a window at a time, like on the dataset page.
    columns = columns[:COLUMN_WINDOW]
    rows = facts.locator("#report-columns tbody tr")
    expect(rows).to_have_count(len(columns))
    shown = [
        (rows.nth(i).locator("th").inner_text(), rows.nth(i).locator("td").first.inner_text())
        for i in range(len(columns))
    ]
    assert shown == [(c["name"], c["type"]) for c in columns]


def test_file_picker_upload_shows_byte_progress_to_100_then_status_and_detection(
    page: Page, ui_api: ApiServer, api_client: httpx.Client
) -> None:
    page.add_init_script(RECORD_PROGRESS)
    throttle_uploads(page)
    page.goto(f"{ui_api.url}/upload")
    expect(page.get_by_role("link", name="Upload", exact=True)).to_have_attribute(
        "aria-current", "page"
    )
    page.get_by_label("Choose a file…").set_input_files(MESSY)
    expect(page.locator("#file-info")).to_have_text("211.csv · 2.4 MB")
    shot(page, "upload-chosen")

    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#progress-section")).to_be_visible()
    page.wait_for_selector(FINAL, timeout=90_000)

    values: list[float] = page.evaluate("window.__progress")
    assert values and values[-1] == 100, values
    assert any(0 < v < 100 for v in values), f"the bar never showed a partial upload: {values}"
    assert values == sorted(values), f"the bar went backwards: {values}"
    expect(page.locator("#progress-percent")).to_have_text("100%")
    expect(page.locator("#upload-progress")).to_have_attribute("value", "100")

    section = page.locator("#progress-section")
    dataset_id = section.get_attribute("data-dataset-id")
    assert dataset_id
    status = api_client.get(f"/datasets/{dataset_id}/status").json()
    assert status["status"] == "ready", status
    expect(section).to_have_attribute("data-status", "ready")
    expect(page.locator("#status-line")).to_contain_text(f"{status['rows_out']:,} rows kept")
    expect(page.locator("#steps li.done")).to_have_count(4)

    report = api_client.get(f"/datasets/{dataset_id}/report").json()
    check_detection(page, report)
    link = page.get_by_role("link", name="Open the dataset")
    expect(link).to_have_attribute("href", f"/ui/datasets/{dataset_id}")
    shot(page, "upload-ready")


def test_dropping_a_file_uploads_it_and_links_to_the_dataset(
    page: Page, ui_api: ApiServer, api_client: httpx.Client
) -> None:
    page.goto(f"{ui_api.url}/upload")
    transfer = page.evaluate_handle(
        """([name, bytes]) => {
            const transfer = new DataTransfer();
            transfer.items.add(new File([new Uint8Array(bytes)], name, { type: "text/csv" }));
            return transfer;
        }""",
        [AIREDALE.name, list(AIREDALE.read_bytes())],
    )
    zone = page.locator("#dropzone")
    zone.dispatch_event("dragenter", {"dataTransfer": transfer})
    zone.dispatch_event("dragover", {"dataTransfer": transfer})
    expect(zone).to_have_class("dropzone dragover")
    zone.dispatch_event("drop", {"dataTransfer": transfer})
    expect(zone).to_have_class("dropzone")
    expect(page.locator("#file-info")).to_have_text("airedale.csv · 8.2 KB")

    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_selector(FINAL, timeout=60_000)
    expect(page.locator("#progress-percent")).to_have_text("100%")
    dataset_id = page.locator("#progress-section").get_attribute("data-dataset-id")
    report = api_client.get(f"/datasets/{dataset_id}/report").json()
    check_detection(page, report)

    page.get_by_role("link", name="Open the dataset").click()
    expect(page).to_have_url(f"{ui_api.url}/ui/datasets/{dataset_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text("airedale.csv")
    # 54 rows (duplicates are kept unless asked): the page shows the first 50.
    expect(page.locator("#rows-table tbody tr")).to_have_count(min(report["rows_out"], 50))


def test_a_refused_upload_shows_the_api_error_and_no_progress(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    refused = api_client.post("/upload", files={"file": ("empty.csv", b"", "text/csv")})
    assert refused.status_code == 422
    page.goto(f"{ui_api.url}/upload")
    page.get_by_label("Choose a file…").set_input_files(empty)
    page.get_by_role("button", name="Upload", exact=True).click()
    alert = page.get_by_role("alert")
    expect(alert).to_have_text(refused.json()["error"]["message"])
    expect(page.locator("#progress-section")).to_be_hidden()
    expect(page.get_by_role("button", name="Upload", exact=True)).to_be_enabled()


def test_uploading_with_no_file_asks_for_one(page: Page, ui_api: ApiServer) -> None:
    page.goto(f"{ui_api.url}/upload")
    # The browser's own `required` check would stop the submit before our script sees it.
    page.locator("#file").evaluate("input => input.removeAttribute('required')")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("alert")).to_have_text("Choose a CSV file first.")
    expect(page.locator("#file")).to_be_focused()


def test_advanced_options_reach_the_version_and_its_report(
    page: Page, ui_api: ApiServer, api_client: httpx.Client
) -> None:
    """Issue 12: dedupe, null tokens, decimal mark, date order, types and lines to skip
    from the upload page's advanced options, stored with the version."""
    page.goto(f"{ui_api.url}/upload")
    page.get_by_label("Choose a file…").set_input_files(AIREDALE)
    page.get_by_text("Advanced options (optional)").click()
    page.get_by_label("Remove exact duplicate rows (they are always counted)").check()
    page.get_by_label("Values that mean “no value”").fill("k.A., n/d")
    page.get_by_label("Decimal mark").select_option(".")
    page.get_by_label("Dates").select_option("dmy")
    page.get_by_label("Column types").fill("transaction_no:text")
    page.get_by_label("Lines to skip above the header").fill("0")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_selector(FINAL, timeout=60_000)
    dataset_id = page.locator("#progress-section").get_attribute("data-dataset-id")
    status = api_client.get(f"/datasets/{dataset_id}/status").json()
    assert status["status"] == "ready", status
    options = status["options"]
    assert {k: options.get(k) for k in ("dedupe", "null_tokens", "decimal", "date_order")} == {
        "dedupe": True,
        "null_tokens": ["k.A.", "n/d"],
        "decimal": ".",
        "date_order": "dmy",
    }
    assert options["types"] == {"transaction_no": "string"} and options["skip_rows"] == 0
    report = api_client.get(f"/datasets/{dataset_id}/report").json()
    assert (report["rows_out"], report["duplicates_removed"]) == (41, 13)


def test_a_workbook_uploads_from_the_page_with_its_sheet(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    """Issue 16: the picker offers workbooks, and the sheet option reaches the version."""
    from tests.workbooks import xlsx

    book = tmp_path / "partner.xlsx"
    book.write_bytes(
        xlsx(
            {
                "Notes": [["read me"], ["nothing here"]],
                "Daten": [["Stadt", "Größe"], ["Köln", 1.5], ["Łódź", 2]],
            }
        )
    )
    page.goto(f"{ui_api.url}/upload")
    picker = page.get_by_label("Choose a file…")
    assert ".xlsx" in (picker.get_attribute("accept") or "")
    picker.set_input_files(book)
    page.get_by_text("Advanced options (optional)").click()
    page.get_by_label("Sheet (workbooks)").fill("Daten")
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_selector(FINAL, timeout=60_000)
    dataset_id = page.locator("#progress-section").get_attribute("data-dataset-id")
    status = api_client.get(f"/datasets/{dataset_id}/status").json()
    assert status["status"] == "ready", status
    assert status["options"]["sheet"] == "Daten"
    report = api_client.get(f"/datasets/{dataset_id}/report").json()
    assert report["input"]["format"] == "xlsx"
    assert [c["original_name"] for c in report["columns"]] == ["Stadt", "Größe"]
    rows = api_client.get(f"/datasets/{dataset_id}").json()["rows"]
    assert [list(r.values()) for r in rows] == [["Köln", 1.5], ["Łódź", 2.0]]
