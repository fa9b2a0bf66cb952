"""Keyboard use with visible focus, and every page at 360 px wide."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.servers.api import ApiServer

from .conftest import shot

MAX_TABS = 80
NARROW = {"width": 360, "height": 780}


def focus_ring(page: Page) -> dict[str, Any]:
    """The outline drawn for the focused element; the hidden file input shows it on its label."""
    ring: dict[str, Any] = page.evaluate(
        """() => {
            let shown = document.activeElement;
            if (shown.type === "file") shown = document.querySelector(`label[for="${shown.id}"]`);
            const style = getComputedStyle(shown);
            return {style: style.outlineStyle, width: parseFloat(style.outlineWidth)};
        }"""
    )
    return ring


def test_tab_to_a_header_and_press_enter_sorts(
    page: Page, ui_api: ApiServer, messy_id: str
) -> None:
    """aria-sort follows Enter and Space; the rows' order depends on the query API's sort."""
    page.goto(f"{ui_api.url}/ui/datasets/{messy_id}")
    expect(page.locator("#rows-scroll")).to_have_attribute("aria-busy", "false")
    page.locator("body").click(position={"x": 5, "y": 300})

    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('sort-button')"):
            break
    else:
        pytest.fail(f"no column header was reachable with {MAX_TABS} Tab presses")

    column = page.evaluate("document.activeElement.dataset.column")
    header = page.locator(f'#rows-table th[data-column="{column}"]')
    expect(header).to_have_attribute("aria-sort", "none")
    ring = focus_ring(page)
    assert ring["style"] != "none" and ring["width"] >= 2, ring
    shot(page, "keyboard-header-focus", full_page=False)

    with page.expect_response(lambda r: "sort=" in r.url) as answer:
        page.keyboard.press("Enter")
    assert f"sort={column}" in answer.value.url
    expect(header).to_have_attribute("aria-sort", "ascending")
    expect(header.locator(".sort-button")).to_be_focused()

    with page.expect_response(lambda r: "sort=" in r.url) as answer:
        page.keyboard.press(" ")
    assert f"sort=-{column}" in answer.value.url
    expect(header).to_have_attribute("aria-sort", "descending")

    # Tab goes on to the column's chart button; Enter opens its chart.
    page.keyboard.press("Tab")
    expect(page.locator(f'.chart-button[data-column="{column}"]')).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.locator("#chart")).to_have_attribute("data-column", column)


def test_focus_is_visible_on_the_upload_page(page: Page, ui_api: ApiServer) -> None:
    page.goto(f"{ui_api.url}/upload")
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    assert focus_ring(page)["style"] != "none"
    seen = set()
    for _ in range(MAX_TABS):
        page.keyboard.press("Tab")
        name = page.evaluate("document.activeElement.id || document.activeElement.textContent")
        if name in seen:
            break
        seen.add(name)
        assert focus_ring(page)["style"] != "none", f"no focus ring on {name!r}"
        if name == "upload-button":
            break
    assert {"file", "upload-button"} <= seen, seen


@pytest.mark.parametrize("path", ["/upload", "/ui/datasets", "/ui/datasets/{messy_id}"])
def test_pages_fit_360px_without_sideways_scrolling(
    browser: Browser, ui_api: ApiServer, messy_id: str, path: str
) -> None:
    context = browser.new_context(viewport=NARROW, device_scale_factor=1)
    try:
        page = context.new_page()
        page.goto(ui_api.url + path.format(messy_id=messy_id))
        if "{messy_id}" in path:
            expect(page.locator("#rows-scroll")).to_have_attribute("aria-busy", "false")
            page.locator(".chart-button").first.click()
            expect(page.locator("#chart svg")).to_be_attached()
        sizes = page.evaluate(
            """() => ({
                page: document.documentElement.scrollWidth,
                viewport: document.documentElement.clientWidth,
                body: document.body.scrollWidth,
            })"""
        )
        assert sizes["page"] <= sizes["viewport"] == NARROW["width"], sizes
        assert sizes["body"] <= sizes["viewport"], sizes
        # Nothing sticks out past the right edge, except inside a scrolling table container.
        outside: list[str] = page.evaluate(
            """(limit) => Array.from(document.querySelectorAll("body *"))
                .filter(node => !node.closest(".table-scroll, .visually-hidden"))
                .filter(node => node.getClientRects().length > 0)
                .filter(node => node.getBoundingClientRect().right > limit + 0.5)
                .map(node => node.tagName + "#" + node.id + "." + node.className)""",
            NARROW["width"],
        )
        assert outside == [], outside
        if "{messy_id}" in path:
            scroller = page.locator("#rows-scroll")
            widths = scroller.evaluate(
                "el => ({scroll: el.scrollWidth, client: el.clientWidth,"
                " overflow: getComputedStyle(el).overflowX})"
            )
            # 96 columns: the table is far wider than the screen and scrolls in its box.
            assert widths["scroll"] > widths["client"] and widths["overflow"] == "auto", widths
        name = path.strip("/").replace("/", "-").replace("{messy_id}", "dataset")
        shot(page, f"narrow-{name}")
    finally:
        context.close()
