"""Metadata and search over HTTP, on the live API (SQLite, FTS5, the local runner):
PATCH validation and merge semantics, the metadata in the list, status, versions and
report, and `GET /datasets?q=` with the other filters and hostile queries."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from core.catalog.base import MAX_TAGS, MAX_TITLE_CHARS
from tests.api.conftest import catalog_of
from tests.servers.api import ApiServer, wait_final


def upload(
    client: httpx.Client, name: str, header: str = "id,amount", extra: str = ""
) -> dict[str, Any]:
    data = f"{header}\n" + "".join(f"{i},{i * 10}\n" for i in range(3))
    r = client.post(f"/upload?name={name}{extra}", files={"file": (f"{name}.csv", data.encode())})
    assert r.status_code == 202, r.text
    body: dict[str, Any] = r.json()
    assert wait_final(client, body["id"])["status"] == "ready"
    return body


def names(client: httpx.Client, **params: Any) -> list[str]:
    r = client.get("/datasets", params=params)
    assert r.status_code == 200, r.text
    return [item["name"] for item in r.json()["items"]]


def patch(client: httpx.Client, ref: str, body: Any) -> httpx.Response:
    return client.patch(f"/datasets/{ref}", json=body)


def test_patch_merges_and_every_answer_shows_it(client: httpx.Client) -> None:
    first = upload(client, "shop_sales")
    r = patch(
        client,
        "shop_sales",
        {
            "title": "  Shop sales ",
            "description": "Sales per shop.\nMonthly.",
            "tags": ["retail", "Retail", "monthly"],
            "licence": "CC-BY-4.0",
            "source": "https://example.org/sales",
            "columns": {"amount": "In euros"},
        },
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["name"], body["version"], body["id"]) == ("shop_sales", 1, first["id"])
    meta = body["metadata"]
    assert meta["title"] == "Shop sales" and meta["tags"] == ["retail", "monthly"]
    assert meta["description"] == "Sales per shop.\nMonthly."
    assert meta["columns"] == {"amount": "In euros"} and meta["updated_at"]
    # A merge: only what is given changes; null and "" clear.
    r = patch(client, first["id"], {"title": None, "licence": "", "columns": {"id": "Row"}})
    assert r.status_code == 200, r.text
    meta = r.json()["metadata"]
    assert meta["title"] is None and meta["licence"] is None
    assert meta["description"] == "Sales per shop.\nMonthly."
    assert meta["columns"] == {"amount": "In euros", "id": "Row"}
    # Kept across versions: a new version serves the same metadata.
    second = upload(client, "shop_sales")
    status = client.get("/datasets/shop_sales/status").json()
    assert status["id"] == second["id"] and status["metadata"]["columns"]["id"] == "Row"
    assert client.get("/datasets/shop_sales/versions").json()["metadata"] == meta
    assert client.get("/datasets/shop_sales/metadata").json()["metadata"] == meta
    listed = client.get("/datasets", params={"prefix": "shop_sales"}).json()["items"]
    assert listed[0]["metadata"] == meta
    # The report of any version shows it as it is now, and each column's description.
    for ref in ("shop_sales", first["id"]):
        report = client.get(f"/datasets/{ref}/report").json()
        assert report["metadata"] == meta
        described = {c["name"]: c.get("description") for c in report["columns"]}
        assert described == {"id": "Row", "amount": "In euros"}


@pytest.mark.parametrize(
    ("body", "said"),
    [
        ({"title": "x" * (MAX_TITLE_CHARS + 1)}, "title"),
        ({"title": "two\nlines"}, "title"),
        ({"tags": [""]}, "tags"),
        ({"tags": ["a,b"]}, "tags"),
        ({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}, "tags"),
        ({"tags": "retail"}, "tags"),
        ({"colour": "red"}, "colour"),
        ({"columns": {"nope": "x", "amount": "ok"}}, "'nope'"),
        ({"columns": ["amount"]}, "columns"),
        ({"description": "nul\x00"}, "description"),
        ([1, 2], ""),
    ],
)
def test_patch_validation(client: httpx.Client, body: Any, said: str) -> None:
    upload(client, "validated")
    before = client.get("/datasets/validated/metadata").json()["metadata"]
    r = patch(client, "validated", body)
    assert r.status_code == 422, r.text
    assert said in r.json()["error"]["message"]
    assert client.get("/datasets/validated/metadata").json()["metadata"] == before


def test_patch_of_an_unknown_dataset_is_404(client: httpx.Client) -> None:
    r = patch(client, "no_such_dataset", {"title": "x"})
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_columns_of_an_earlier_version_may_be_described(client: httpx.Client) -> None:
    upload(client, "renamed", header="id,old_name")
    upload(client, "renamed", header="id,new_name", extra="&on_schema_change=allow")
    r = patch(client, "renamed", {"columns": {"old_name": "gone since v2", "new_name": "x"}})
    assert r.status_code == 200, r.text


def test_search_each_field_and_composition(client: httpx.Client, local_api: ApiServer) -> None:
    upload(client, "weather_obs", header="station,precipitation_mm")
    upload(client, "kataster", header="id,Größe")
    upload(client, "weather_archive", header="station,wind")
    patch(
        client,
        "weather_obs",
        {"title": "Daily temperatures", "description": "Celsius", "tags": ["climate"]},
    )
    patch(client, "kataster", {"title": "Straßen"})
    assert names(client, q="temperatures") == ["weather_obs"]
    assert names(client, q="CELSIUS") == ["weather_obs"]
    assert names(client, q="climate") == ["weather_obs"]
    assert names(client, q="precip") == ["weather_obs"]  # a column name, as a prefix
    assert names(client, q="größe") == ["kataster"]  # a column name, non-ASCII
    assert names(client, q="GROSSE") == ["kataster"]
    assert names(client, q="Straßen") == ["kataster"]
    assert names(client, q="STRASSEN") == ["kataster"]
    assert sorted(names(client, q="weather")) == ["weather_archive", "weather_obs"]
    assert names(client, q="weather wind") == ["weather_archive"]
    assert names(client, q="weather", prefix="weather_a") == ["weather_archive"]
    assert names(client, q="weather", status="failed") == []
    # Paging keeps the search in its next link.
    first = client.get("/datasets", params={"q": "weather", "limit": 1}).json()
    assert first["total"] == 2 and "q=weather" in first["next"]
    rest = client.get(first["next"]).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["name"] != first["items"][0]["name"]
    # A blank q is no search.
    assert len(names(client, q="  ")) == len(names(client))
    catalog = catalog_of(local_api)
    try:
        columns = [v.columns for v in catalog.versions("weather_obs")]
    finally:
        catalog.close()
    assert columns == [("station", "precipitation_mm")]


@pytest.mark.parametrize("q", ['"', "*", "NEAR(", "OR OR", "a AND", "'; DROP TABLE x; --"])
def test_hostile_queries_get_a_clear_answer(client: httpx.Client, q: str) -> None:
    upload(client, "or_near_drop")
    r = client.get("/datasets", params={"q": q})
    if any(ch.isalnum() for ch in q):
        assert r.status_code == 200, r.text
    else:
        assert r.status_code == 422, r.text
        assert "no letters or digits" in r.json()["error"]["message"]


def test_too_long_or_too_many_words_is_422(client: httpx.Client) -> None:
    r = client.get("/datasets", params={"q": "x" * 10_000})
    assert r.status_code == 422 and "q" in r.json()["error"]["message"]
    r = client.get("/datasets", params={"q": " ".join(f"w{i}" for i in range(17))})
    assert r.status_code == 422 and "at most 16 words" in r.json()["error"]["message"]


KEY = "meta-" + "k" * 40


def test_the_ui_form_needs_the_sessions_token_when_keys_are_on(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    with ApiServer(tmp_path_factory.mktemp("api-meta-keys"), {"MINI_API_KEYS": KEY}) as server:
        with httpx.Client(
            base_url=server.url, timeout=60, headers={"Authorization": f"Bearer {KEY}"}
        ) as keyed:
            upload(keyed, "guarded")
        with httpx.Client(base_url=server.url, timeout=60) as browser:
            form = browser.get("/login")
            token = re.search(r'name="csrf" value="([^"]+)"', form.text)
            assert token is not None
            signed = browser.post("/login", data={"key": KEY, "csrf": token.group(1)})
            assert signed.status_code == 303
            page = browser.get("/ui/datasets/guarded/edit")
            assert page.status_code == 200
            csrf = re.search(
                r'id="metadata-form"[^>]*>\s*<input type="hidden" name="csrf" value="([^"]+)"',
                page.text,
            )
            assert csrf is not None, page.text
            refused = browser.post("/ui/datasets/guarded/edit", data={"title": "forged"})
            assert refused.status_code == 403 and refused.json()["error"]["code"] == "csrf_failed"
            wrong = browser.post(
                "/ui/datasets/guarded/edit", data={"title": "forged", "csrf": "x" * 43}
            )
            assert wrong.status_code == 403
            saved = browser.post(
                "/ui/datasets/guarded/edit", data={"title": "Guarded", "csrf": csrf.group(1)}
            )
            assert saved.status_code == 303, saved.text
            meta = browser.get("/datasets/guarded/metadata").json()["metadata"]
            assert meta["title"] == "Guarded"


def test_the_ui_form_shows_what_it_refused(client: httpx.Client) -> None:
    upload(client, "form_errors")
    r = client.post(
        "/ui/datasets/form_errors/edit",
        data={"title": "ok", "column:not_a_column": "x", "tags": "a, b"},
    )
    assert r.status_code == 422
    assert "not_a_column" in r.text and 'value="a, b"' in r.text
    assert client.get("/datasets/form_errors/metadata").json()["metadata"]["title"] is None
