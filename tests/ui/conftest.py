"""Real Chromium (Debian's) driving the real API process on the embedded default."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, Playwright, sync_playwright

from core import keys
from core.catalog import Catalog, SqlCatalog
from tests.corpus import CORPUS
from tests.servers.api import ApiServer, wait_final

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download cannot work here: always Debian's build.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "ui"

# A messy real-world file: Mac Roman-ish bytes, CR line endings, 96 columns, ~2k rows.
MESSY = CORPUS / "messytables" / "211.csv"
# Small, with d/m/y dates and "1,234.56" amounts.
AIREDALE = CORPUS / "clevercsv" / "airedale.csv"


@pytest.fixture(scope="session")
def ui_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(tmp_path_factory.mktemp("ui-api")) as server:
        yield server


@pytest.fixture(scope="session")
def api_client(ui_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ui_api.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: run `bash scripts/ensure-chromium.sh` (make test does)"
        )
    browser = playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
    )
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh desktop-sized page; any uncaught script error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    def on_console(message: ConsoleMessage) -> None:
        # A 404 from an optional endpoint (rejects, logs) is an expected network log line.
        if message.type == "error" and "Failed to load resource" not in message.text:
            errors.append(message.text)

    page.on("console", on_console)
    yield page
    context.close()
    assert not errors, f"script errors in the page: {errors}"


def shot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """Screenshots for people to look at, in the git-ignored tests/artifacts/."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    try:
        page.screenshot(path=str(path), full_page=full_page)
    except Error:
        page.screenshot(path=str(path))
    return path


def upload(client: httpx.Client, path: Path, name: str | None = None) -> str:
    """Upload through the API (not the page) and wait until it is final."""
    params = {"name": name} if name else {}
    with path.open("rb") as fh:
        answer = client.post("/upload", params=params, files={"file": (path.name, fh, "text/csv")})
    assert answer.status_code == 202, answer.text
    dataset_id: str = answer.json()["id"]
    status = wait_final(client, dataset_id)
    assert status["status"] == "ready", status
    return dataset_id


@pytest.fixture(scope="session")
def messy_id(api_client: httpx.Client) -> str:
    return upload(api_client, MESSY)


@pytest.fixture(scope="session")
def airedale_id(api_client: httpx.Client) -> str:
    return upload(api_client, AIREDALE)


def parquet_table(server: ApiServer, dataset_id: str) -> pa.Table:
    """The stored Parquet file itself, read independently of the API: the tests' oracle."""
    path = server.data_dir / "objects" / "processed" / keys.data_key(dataset_id)
    return pq.read_table(path)


def catalog_of(server: ApiServer) -> Catalog:
    return SqlCatalog.from_url(f"sqlite:///{server.data_dir.resolve() / 'catalog.sqlite3'}")
