"""The strict CSP in a real browser: every page works under it with no violation, an
injected inline script is refused; sign-in and sign-out through the real forms."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, expect

from tests.servers.api import ApiServer

from .conftest import shot

COLLECT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation',
  (e) => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));
"""
KEY = "ui-key-" + "z" * 40


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    context.add_init_script(COLLECT)
    yield context
    context.close()


def test_pages_work_under_the_csp_without_violations(
    context: BrowserContext, ui_api: ApiServer, messy_id: str
) -> None:
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{ui_api.url}/ui/datasets/{messy_id}")
    expect(page.locator("#rows-scroll")).to_have_attribute("aria-busy", "false")
    # Scripts ran (the table filled in) and the report tab opens (script-driven).
    assert page.locator("#rows-scroll tbody tr").count() > 0
    page.get_by_role("tab", name="Report").click()
    expect(page.locator("#panel-report")).to_be_visible()
    for path in ("/ui/datasets", "/upload"):
        page.goto(f"{ui_api.url}{path}")
        page.wait_for_load_state("networkidle")
    assert page.evaluate("window.__csp") == []
    assert errors == []
    shot(page, "csp-upload-page")

    # The policy is enforced: an injected inline script does not run.
    ran = page.evaluate(
        """() => {
            const s = document.createElement('script');
            s.textContent = 'window.__injected = 1';
            document.body.appendChild(s);
            return window.__injected === 1;
        }"""
    )
    assert ran is False
    page.wait_for_function("window.__csp.length > 0")
    assert any(v.startswith("script-src") for v in page.evaluate("window.__csp"))


def test_sign_in_and_out_through_the_forms(context: BrowserContext, tmp_path: Path) -> None:
    with ApiServer(tmp_path / "api", {"MINI_API_KEYS": KEY}) as server:
        page = context.new_page()
        page.goto(f"{server.url}/ui/datasets")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        page.get_by_label("API key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page).to_have_url(f"{server.url}/ui/datasets")
        cookies = {c["name"]: c for c in context.cookies()}
        session = cookies["mini_session"]
        assert KEY not in session["value"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        page.get_by_role("button", name="Sign out").click()
        expect(page).to_have_url(re.compile(r"/login$"))
        assert "mini_session" not in {c["name"] for c in context.cookies()}
        # The old session is revoked on the server, not only forgotten by the browser.
        context.add_cookies([{**session}])
        page.goto(f"{server.url}/ui/datasets")
        expect(page).to_have_url(re.compile(r"/login\?next="))
        assert page.evaluate("window.__csp") == []
