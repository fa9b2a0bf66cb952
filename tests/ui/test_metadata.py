"""Metadata and search in Chromium: the list's search box, and the dataset page's
metadata, edited with its form (plain HTML, no script) and shown after saving."""

from __future__ import annotations

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.servers.api import ApiServer

from .conftest import AIREDALE, shot, upload


def test_search_box_filters_the_list_and_the_form_saves_and_shows(
    page: Page, ui_api: ApiServer, api_client: httpx.Client
) -> None:
    token = uuid.uuid4().hex[:10]
    name = f"kennel-{token}"
    other = f"other-{token}"
    upload(api_client, AIREDALE, name)
    upload(api_client, AIREDALE, other)
    column = api_client.get(f"/datasets/{name}/report").json()["columns"][0]["name"]

    page.goto(f"{ui_api.url}/ui/datasets")
    page.fill("#filter-q", f"kennel {token}")
    page.press("#filter-q", "Enter")
    page.wait_for_url("**/ui/datasets?q=*")
    rows = page.locator("#datasets-rows tr[data-name]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-name", name)
    expect(page.locator("#filter-q")).to_have_value(f"kennel {token}")

    page.goto(f"{ui_api.url}/ui/datasets/{name}")
    expect(page.locator("#about")).to_contain_text("No description yet.")
    page.click("#edit-metadata")
    page.fill("#meta-title", "Hunde nach Größe")
    page.fill("#meta-description", "Dogs at the kennel.\nCounted weekly.")
    page.fill("#meta-tags", "dogs, Straße, dogs")
    page.fill("#meta-licence", "CC-BY-4.0")
    page.fill("#meta-source", "https://example.org/kennel")
    page.get_by_label(column, exact=True).fill("When the dog was counted")
    page.click("#metadata-form button[type=submit]")
    # Back on the dataset page (its script may rewrite the fragment).
    expect(page).to_have_url(re.compile(rf"/ui/datasets/{name}(#.*)?$"))
    expect(page.locator("#about-title")).to_have_text("Hunde nach Größe")
    expect(page.locator("#about-description")).to_contain_text("Counted weekly.")
    expect(page.locator("#about-tags .tag")).to_have_text(["dogs", "Straße"])
    expect(page.locator("#about-licence")).to_have_text("CC-BY-4.0")
    link = page.locator("#about-source a")
    expect(link).to_have_attribute("href", "https://example.org/kennel")
    expect(page.locator("#about-columns")).to_contain_text("When the dog was counted")
    shot(page, "metadata-about")
    # The API serves what the form saved.
    meta = api_client.get(f"/datasets/{name}/metadata").json()["metadata"]
    assert meta["tags"] == ["dogs", "Straße"] and meta["columns"] == {
        column: "When the dog was counted"
    }

    # Found by the words the form added, accents and case ignored; the list shows them.
    page.goto(f"{ui_api.url}/ui/datasets")
    page.fill("#filter-q", f"STRASSE grosse {token}")
    page.press("#filter-q", "Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Hunde nach Größe")
    expect(rows.first.locator(".tag")).to_have_text(["dogs", "Straße"])

    # An emptied field clears its value; the rest is kept.
    page.goto(f"{ui_api.url}/ui/datasets/{name}/edit")
    page.fill("#meta-title", "")
    page.click("#metadata-form button[type=submit]")
    # Back on the dataset page (its script may rewrite the fragment).
    expect(page).to_have_url(re.compile(rf"/ui/datasets/{name}(#.*)?$"))
    expect(page.locator("#about-title")).to_have_count(0)
    expect(page.locator("#about-licence")).to_have_text("CC-BY-4.0")


def test_a_search_without_words_says_so(page: Page, ui_api: ApiServer) -> None:
    page.goto(f"{ui_api.url}/ui/datasets?q=%22*%28")
    expect(page.locator("#search-error")).to_contain_text("letters or digits")
    expect(page.locator("#datasets-rows tr[data-name]")).to_have_count(0)
