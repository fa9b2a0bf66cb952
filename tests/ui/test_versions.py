"""Versions in a real browser: the upload page's name field makes versions of one dataset,
and the dataset page's version switcher moves every part of the page to the chosen version.

Expected rows, columns and counts come from each version's stored Parquet file read with
pyarrow, never from the page.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pyarrow as pa
import pyarrow.compute as pc
from playwright.sync_api import Page, Request, Response, expect

from core.catalog import new_dataset_id
from tests.servers.api import ApiServer

from .conftest import catalog_of, parquet_table, shot, upload

PAGE_SIZE = 50
FINAL = "#progress-section[data-status=ready], #progress-section[data-status=failed]"
REGIONS = ["north", "south", "east", "west", "north", "north", "south"]
V1_ROWS = 40
V2_ROWS = 65


def write_versions(folder: Path) -> tuple[Path, Path]:
    """Version 1 has `menge`; version 2 drops it, adds `region` and has more rows."""
    v1 = folder / "euro-v1.csv"
    v1.write_text(
        "id,betrag,menge,datum\n"
        + "".join(
            f"{i},{i * 12.5 + 0.25:.2f},{i % 7},2024-01-{1 + i % 28:02d}\n"
            for i in range(1, V1_ROWS + 1)
        ),
        encoding="utf-8",
    )
    v2 = folder / "euro-v2.csv"
    v2.write_text(
        "id,betrag,region,datum\n"
        + "".join(
            f"{i},{i * 30.5 + 0.75:.2f},{REGIONS[i % len(REGIONS)]},2024-02-{1 + i % 28:02d}\n"
            for i in range(1, V2_ROWS + 1)
        ),
        encoding="utf-8",
    )
    return v1, v2


def unique_name(stem: str) -> str:
    return f"{stem}-{uuid.uuid4().hex[:8]}"


def name_field(page: Page) -> Any:
    return page.get_by_label("Dataset name")


def upload_through_page(
    page: Page, server: ApiServer, path: Path, name: str, policy: str | None = None
) -> tuple[str, int]:
    """Upload `path` under `name` with the page's own controls; the version's id and number."""
    page.goto(f"{server.url}/upload")
    page.get_by_label("Choose a file…").set_input_files(path)
    name_field(page).fill(name)
    if policy:
        page.get_by_text("Advanced options").click()
        page.get_by_label("When a new version's columns change").select_option(policy)
    page.get_by_role("button", name="Upload", exact=True).click()
    page.wait_for_selector(FINAL, timeout=90_000)
    section = page.locator("#progress-section")
    expect(section).to_have_attribute("data-status", "ready")
    dataset_id = section.get_attribute("data-dataset-id") or ""
    version = int(section.get_attribute("data-version") or 0)
    expect(section).to_have_attribute("data-name", name)
    expect(page.locator("#upload-identity")).to_have_text(f"Version {version} of {name}")
    expect(page.get_by_role("link", name="Open the dataset")).to_have_attribute(
        "href", f"/ui/datasets/{dataset_id}"
    )
    return dataset_id, version


def shown_columns(page: Page) -> list[str]:
    names: list[str] = page.locator("#rows-table thead th[data-column]").evaluate_all(
        "cells => cells.map(c => c.dataset.column)"
    )
    return names


def row_range(total: int) -> str:
    return f"Rows 1\u2013{min(total, PAGE_SIZE):,} of {total:,}"


def chart_counts(page: Page, column: str, kind: str) -> list[int]:
    page.get_by_role("button", name=f"Chart of {column}", exact=True).click()
    expect(page.locator("#chart")).to_have_attribute("data-column", column)
    bars = page.locator(f"#chart svg[data-chart={kind}] rect.bar")
    expect(bars.first).to_be_attached()
    return [int(c) for c in bars.evaluate_all("bars => bars.map(b => b.dataset.count)")]


def check_page_shows(
    page: Page, table: pa.Table, dataset_id: str, version: int, versions: int
) -> None:
    """Every part of the page is about `version`: header, switcher, cards, rows, report,
    downloads."""
    expect(page.locator("#dataset")).to_have_attribute("data-dataset-id", dataset_id)
    expect(page.locator("#dataset-version")).to_have_text(f"version {version} of {versions}")
    current = page.locator('#version-switcher a[aria-current="page"]')
    expect(current).to_have_count(1)
    expect(current).to_have_attribute("data-version", str(version))

    # Summary cards.
    expect(page.locator("#summary [data-card=version] dd")).to_have_text(str(version))
    expect(page.locator("#summary [data-card=rows] dd")).to_have_text(f"{table.num_rows:,}")

    # The rows table: this version's columns and rows.
    expect(page.locator("#rows-scroll")).to_have_attribute("aria-busy", "false")
    expect(page.locator("#row-range")).to_have_text(row_range(table.num_rows))
    assert shown_columns(page) == table.column_names
    first_ids = page.locator("#rows-table tbody tr td:first-child").evaluate_all(
        "cells => cells.map(c => c.textContent)"
    )
    assert first_ids == [str(v) for v in table["id"].to_pylist()[:PAGE_SIZE]]
    options = page.locator("#column-select option[value]:not([value=''])").evaluate_all(
        "options => options.map(o => o.value)"
    )
    assert options == table.column_names

    # Downloads are this version's.
    for fmt in ("csv", "jsonl", "parquet"):
        href = page.get_by_role("link", name=fmt.upper(), exact=True).get_attribute("href") or ""
        assert urlsplit(href).path == f"/datasets/{dataset_id}/download"

    # The report tab: this version's report and columns.
    page.get_by_role("tab", name="Report").click()
    report = page.locator("#panel-report .report")
    expect(report).to_have_attribute("data-report-for", dataset_id)
    expect(report).to_have_attribute("data-version", str(version))
    names = report.locator("#report-columns tbody tr th").evaluate_all(
        "cells => cells.map(c => c.textContent)"
    )
    assert names == table.column_names
    page.get_by_role("tab", name="Rows").click()


def test_name_field_makes_versions_and_the_switcher_moves_the_whole_page(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    v1_csv, v2_csv = write_versions(tmp_path)
    name = unique_name("euro")
    # Another dataset whose name shares the prefix, and an unnamed one: both exist for the
    # suggestions; only names are ever suggested, never ids.
    sibling = upload(api_client, v1_csv, f"{name}-archive")
    unnamed = upload(api_client, v1_csv)

    # Version 1, through the page: a name nobody uses yet.
    page.goto(f"{ui_api.url}/upload")
    name_field(page).fill(name)
    expect(page.locator("#name-match")).to_have_text(
        f"A new dataset: this file becomes version 1 of {name}."
    )
    expect(page.get_by_label("When a new version's columns change")).to_have_value("")
    v1_id, v1_version = upload_through_page(page, ui_api, v1_csv, name)
    assert v1_version == 1
    shot(page, "versions-upload-v1")

    # Version 2: the name is suggested as soon as its first letters are typed.
    page.goto(f"{ui_api.url}/upload")
    field = name_field(page)
    field.press_sequentially(name[:6])
    # Only the names starting with what was typed: this one and its sibling.
    expect(page.locator(f'#dataset-names option[value="{name}"]')).to_have_count(1)
    expect(page.locator(f'#dataset-names option:not([value^="{name[:6]}"])')).to_have_count(0)
    expect(page.locator(f'#dataset-names option[value="{name}-archive"]')).to_have_count(1)
    # The page's first suggestions (nothing typed yet) never list an unnamed upload's id.
    all_names = api_client.get("/ui/names", params={"limit": 100}).json()["names"]
    assert name in all_names and unnamed not in all_names, all_names
    field.fill(name)
    expect(page.locator("#name-match")).to_have_text(
        f"{name} exists (1 version): this file becomes version 2."
    )
    expect(page.locator("#name-match")).to_have_attribute("data-state", "existing")
    shot(page, "versions-upload-suggestions")
    # v2 drops a column, so it needs the allow policy to be served (pin would fail it).
    v2_id, v2_version = upload_through_page(page, ui_api, v2_csv, name, policy="allow")
    assert v2_version == 2
    assert sibling not in (v1_id, v2_id)

    tables = {1: parquet_table(ui_api, v1_id), 2: parquet_table(ui_api, v2_id)}
    assert "menge" in tables[1].column_names and "region" not in tables[1].column_names
    assert "region" in tables[2].column_names and "menge" not in tables[2].column_names
    assert (tables[1].num_rows, tables[2].num_rows) == (V1_ROWS, V2_ROWS)
    ids = {1: v1_id, 2: v2_id}
    listed = api_client.get(f"/datasets/{name}/versions").json()["versions"]

    # The dataset's own URL: the latest ready version, 2.
    requests: list[str] = []

    def on_request(request: Request) -> None:
        path = urlsplit(request.url).path
        if path.startswith("/datasets/"):
            requests.append(path)

    page.on("request", on_request)
    with page.expect_response(lambda r: f"/datasets/{v2_id}?" in r.url):
        page.goto(f"{ui_api.url}/ui/datasets/{name}")
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    switcher = page.locator("#version-switcher")
    links = switcher.get_by_role("link")
    expect(links).to_have_count(2)
    # Newest first, each with its status, date, rows and a schema-change badge if any.
    assert links.evaluate_all("links => links.map(a => a.dataset.version)") == ["2", "1"]
    for entry in listed:
        link = switcher.locator(f'a[data-version="{entry["version"]}"]')
        expect(link).to_have_attribute("href", f"/ui/datasets/{name}?version={entry['version']}")
        expect(link.locator(".badge")).to_have_text(entry["status"])
        expect(link.locator("[data-rows]")).to_have_text(
            f"{tables[entry['version']].num_rows:,} rows"
        )
        expect(link.locator("time")).to_have_attribute("datetime", entry["created_at"])
        changed = bool((entry.get("schema_diff") or {}).get("changed"))
        expect(link.locator(".tag-schema")).to_have_count(1 if changed else 0)
    expect(switcher.locator('a[data-version="2"] .tag-stable')).to_have_text("latest")
    expect(switcher.locator('a[data-version="1"] .tag-stable')).to_have_count(0)
    expect(page.locator("#version-notice")).to_have_count(0)
    check_page_shows(page, tables[2], v2_id, 2, 2)
    # The processor's schema diff of version 2 against version 1, on the page and in the report.
    assert listed[1]["schema_diff"]["changed"] is True, listed[1]["schema_diff"]
    expect(switcher.locator('a[data-version="2"] .tag-schema')).to_have_text("schema changed")
    note = page.locator("#schema-note")
    expect(note).to_contain_text("1 column added, 1 removed since version 1")
    page.get_by_role("tab", name="Report").click()
    diff = page.locator("#panel-report #schema-diff")
    expect(diff.locator("[data-change=added]")).to_have_text(re.compile(r"Added\s+region"))
    expect(diff.locator("[data-change=removed]")).to_have_text(re.compile(r"Removed\s+menge"))
    expect(diff.locator("[data-policy]")).to_have_attribute("data-policy", "allow")
    page.get_by_role("tab", name="Rows").click()
    assert sum(chart_counts(page, "region", "top_values")) == V2_ROWS
    expect(page.get_by_role("button", name="Chart of menge", exact=True)).to_have_count(0)
    shot(page, "versions-v2")

    # Switch to version 1: everything follows.
    requests.clear()
    with page.expect_response(lambda r: f"/datasets/{v1_id}?" in r.url):
        switcher.get_by_role("link", name=re.compile(r"^Version 1 ")).click()
    expect(page).to_have_url(f"{ui_api.url}/ui/datasets/{name}?version=1")
    check_page_shows(page, tables[1], v1_id, 1, 2)
    expect(page.locator("#version-notice")).to_contain_text("This dataset's link shows version 2")
    expect(page.locator("#schema-note")).to_have_count(0)
    expect(page.locator("#panel-report [data-change]")).to_have_count(0)
    menge = tables[1]["menge"]
    assert sum(chart_counts(page, "menge", "histogram")) == len(menge) - menge.null_count
    assert sum(chart_counts(page, "betrag", "histogram")) == V1_ROWS
    expect(page.locator("#chart .chart-facts")).to_contain_text(
        f"{pc.max(tables[1]['betrag']).as_py():,}"
    )
    expect(page.get_by_role("button", name="Chart of region", exact=True)).to_have_count(0)
    for tab, body in (("Rejects", "#rejects-body"), ("Logs", "#logs-body")):
        page.get_by_role("tab", name=tab).click()
        expect(page.locator(body)).to_have_attribute("data-state", re.compile(r"^\d+$"))
    page.get_by_role("tab", name="Rows").click()
    shot(page, "versions-v1")

    # Sorting keeps the version in the page URL, so a reload stays on version 1.
    with page.expect_response(lambda r: f"/datasets/{v1_id}?" in r.url and "sort=" in r.url):
        page.locator('#rows-table th[data-column="betrag"] .sort-button').click()
    expect(page.locator('#rows-table th[data-column="betrag"]')).to_have_attribute(
        "aria-sort", "ascending"
    )
    assert "version=1" in page.url and "sort=betrag" in page.url
    with page.expect_response(lambda r: f"/datasets/{v1_id}?" in r.url):
        page.reload()
    expect(page.locator("#dataset")).to_have_attribute("data-dataset-id", v1_id)
    expect(page.locator('#rows-table th[data-column="betrag"]')).to_have_attribute(
        "aria-sort", "ascending"
    )

    # Everything the version 1 page asked for was version 1's own URLs.
    assert requests, "the page made no dataset requests"
    strays = [p for p in requests if not p.startswith(f"/datasets/{v1_id}")]
    assert not strays, f"version 1's page asked for other versions: {strays}"

    # And back to version 2 by the switcher; version 1's immutable URL stays version 1.
    with page.expect_response(lambda r: f"/datasets/{v2_id}?" in r.url):
        switcher.get_by_role("link", name=re.compile(r"^Version 2 ")).click()
    expect(page).to_have_url(f"{ui_api.url}/ui/datasets/{name}?version=2")
    expect(page.locator("#dataset")).to_have_attribute("data-dataset-id", ids[2])
    expect(page.locator("#summary [data-card=rows] dd")).to_have_text(f"{V2_ROWS:,}")
    with page.expect_response(lambda r: f"/datasets/{v1_id}?" in r.url):
        page.goto(f"{ui_api.url}/ui/datasets/{ids[1]}")
    check_page_shows(page, tables[1], v1_id, 1, 2)


def test_the_name_field_refuses_a_name_the_api_would_refuse(page: Page, ui_api: ApiServer) -> None:
    page.goto(f"{ui_api.url}/upload")
    field = name_field(page)
    field.fill("two words!")
    match = page.locator("#name-match")
    expect(match).to_have_attribute("data-state", "invalid")
    expect(match).to_contain_text("starts with a letter or digit")
    expect(field).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("document.getElementById('opt-name').validity.patternMismatch")
    field.fill("")
    expect(match).to_have_text("")
    expect(field).to_have_attribute("aria-invalid", "false")


def test_a_version_the_policy_refused_shows_its_schema_diff(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    """The diff is recorded in the catalog as the processor records it, so this checks the
    page's rendering, not the processor's comparison."""
    v1_csv, _ = write_versions(tmp_path)
    name = unique_name("drift")
    v1_id = upload(api_client, v1_csv, name)
    catalog = catalog_of(ui_api)
    v2_id = new_dataset_id()
    catalog.add(
        dataset_id=v2_id,
        filename="euro-v2.csv",
        raw_key=f"{v2_id}/source.csv",
        sha256="0" * 64,
        size_bytes=99,
        name=name,
    )
    diff = {
        "baseline": {"id": v1_id, "version": 1},
        "policy": "reject",
        "added": ["region"],
        "removed": ["menge"],
        "type_changed": [
            {
                "column": "betrag",
                "from": "float",
                "to": "string",
                "widened": False,
                "counterexamples": [{"line": 7, "value": "k.A."}],
            }
        ],
        "nullability": [],
        "changed": True,
    }
    assert catalog.mark_processing(v2_id)
    assert catalog.mark_failed(v2_id, "the schema changed (policy reject)", schema_diff=diff)

    # The dataset's own URL still serves version 1, the latest ready one.
    page.goto(f"{ui_api.url}/ui/datasets/{name}")
    expect(page.locator("#dataset")).to_have_attribute("data-dataset-id", v1_id)
    switcher = page.locator("#version-switcher")
    refused = switcher.locator('a[data-version="2"]')
    expect(refused.locator(".badge")).to_have_text("failed")
    expect(refused.locator(".tag-schema")).to_have_text("schema changed")
    expect(switcher.locator('a[data-version="1"] .tag-schema')).to_have_count(0)
    expect(switcher.locator('a[data-version="1"] .tag-stable')).to_have_text("latest")
    expect(page.locator("#stable-note")).to_contain_text("shows version 1, the latest ready one")

    refused.click()
    expect(page).to_have_url(f"{ui_api.url}/ui/datasets/{name}?version=2")
    expect(page.locator("#dataset")).to_have_attribute("data-dataset-id", v2_id)
    expect(page.get_by_role("alert")).to_have_text(
        "Processing failed: the schema changed (policy reject)"
    )
    expect(page.locator("#version-notice")).to_contain_text("version 2 (failed)")
    expect(page.locator("#schema-note")).to_contain_text(
        "1 column added, 1 removed, 1 retyped since version 1"
    )
    page.get_by_role("link", name="Details in the report").click()
    expect(page.get_by_role("tab", name="Report")).to_have_attribute("aria-selected", "true")
    shown = page.locator("#panel-report #schema-diff")
    expect(shown).to_have_attribute("data-changed", "true")
    expect(shown.get_by_role("heading")).to_have_text("Schema changes since version 1")
    expect(shown.locator("[data-change=added]")).to_have_text(re.compile(r"Added\s+region"))
    expect(shown.locator("[data-change=removed]")).to_have_text(re.compile(r"Removed\s+menge"))
    retyped = shown.locator("[data-change=type_changed]")
    expect(retyped).to_contain_text("Type of betrag: float → string")
    expect(retyped).to_contain_text("k.A. (line 7)")
    expect(shown.locator("[data-policy]")).to_have_attribute("data-policy", "reject")
    shot(page, "versions-schema-diff")


def test_an_unknown_version_is_a_friendly_404(
    page: Page, ui_api: ApiServer, api_client: httpx.Client, tmp_path: Path
) -> None:
    v1_csv, _ = write_versions(tmp_path)
    name = unique_name("missing")
    upload(api_client, v1_csv, name)
    answer: Response | None = page.goto(f"{ui_api.url}/ui/datasets/{name}?version=9")
    assert answer is not None and answer.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("No such dataset")
    expect(page.locator("#not-found-detail")).to_contain_text("no version 9")
