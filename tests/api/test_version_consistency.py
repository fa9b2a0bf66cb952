"""Every per-dataset endpoint and the UI page, addressed five ways, answers about one
and the same version, says which in its body and headers, and serves that version's
content: the stable name URL, `?version=1`, `?version=2`, v1's id and v2's id.

v2 drops a column (`menge`), adds one (`region`) and retypes one (`code`: int -> text),
under the `allow` policy so that the retyped schema is served.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq
import pytest

from tests.servers.api import ApiServer, wait_final

V1 = (
    "datum,betrag,menge,code\n"
    + "".join(f"2024-01-{d:02d},{d * 1000 + 0.5},{d},{d + 10}\n" for d in range(1, 21))
    + "2024-02-01,1.5,7,99,extra\n"
)  # one row with a field too many: rejected in v1
V2 = "datum,betrag,region,code\n" + "".join(
    f"2024-03-{d:02d},{d * 700 + 0.25},north,A{d}\n" for d in range(1, 13)
)


@dataclass(frozen=True)
class Version:
    id: str
    number: int
    columns: list[str]
    rows: int
    rejects: int


@dataclass(frozen=True)
class Family:
    server: ApiServer
    v1: Version
    v2: Version

    def expected(self, addressing: str) -> Version:
        return {"latest": self.v2, "?version=1": self.v1, "?version=2": self.v2}.get(
            addressing, self.v1 if addressing == "v1 id" else self.v2
        )

    def url(self, addressing: str, suffix: str = "", query: str = "") -> str:
        ref = {"v1 id": self.v1.id, "v2 id": self.v2.id}.get(addressing, "euro")
        params = [query] if query else []
        if addressing.startswith("?version="):
            params.append(addressing[1:])
        return f"/datasets/{ref}{suffix}" + (f"?{'&'.join(params)}" if params else "")


def _parquet_columns(server: ApiServer, version_id: str) -> list[str]:
    path = server.data_dir / "objects" / "processed" / version_id / "data.parquet"
    return list(pq.read_schema(path).names)


@pytest.fixture(scope="module")
def family(local_api: ApiServer) -> Iterator[Family]:
    with httpx.Client(base_url=local_api.url, timeout=60) as client:
        made = []
        for data in (V1, V2):
            r = client.post(
                "/upload?name=euro&on_schema_change=allow",
                files={"file": ("euro.csv", data.encode())},
            )
            assert r.status_code == 202, r.text
            status = wait_final(client, r.json()["id"])
            assert status["status"] == "ready", status
            made.append(
                Version(
                    id=r.json()["id"],
                    number=r.json()["version"],
                    columns=_parquet_columns(local_api, r.json()["id"]),
                    rows=int(status["rows_out"]),
                    rejects=int(status["rows_rejected"]),
                )
            )
    v1, v2 = made
    assert v1.columns == ["datum", "betrag", "menge", "code"]
    assert v2.columns == ["datum", "betrag", "region", "code"]
    assert (v1.rows, v1.rejects, v2.rows, v2.rejects) == (20, 1, 12, 0)
    yield Family(local_api, v1, v2)


ADDRESSING = ["latest", "?version=1", "?version=2", "v1 id", "v2 id"]


def _names_version(r: httpx.Response, want: Version) -> None:
    assert r.headers["x-dataset-name"] == "euro", r.url
    assert r.headers["x-dataset-version"] == str(want.number), r.url
    assert r.headers["x-dataset-version-id"] == want.id, r.url
    if r.headers["content-type"].startswith("application/json"):
        body = r.json()
        assert (body["id"], body["name"], body["version"]) == (want.id, "euro", want.number)


def check_rows(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, query="limit=1000"))
    assert r.status_code == 200, r.text
    _names_version(r, want)
    assert [c["name"] for c in r.json()["columns"]] == want.columns
    assert r.json()["total_rows"] == want.rows
    assert r.headers["etag"].startswith(f'"v{want.number}-')
    types = {c["name"]: c["type"] for c in r.json()["columns"]}
    assert types["code"] == ("int" if want.number == 1 else "string")


def check_download(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/download", "format=csv"))
    assert r.status_code == 200, r.text
    _names_version(r, want)
    rows = list(csv.reader(io.StringIO(r.text)))
    assert rows[0] == want.columns and len(rows) == want.rows + 1
    assert f'euro-v{want.number}.csv"' in r.headers["content-disposition"]
    jsonl = client.get(fam.url(how, "/download", "format=jsonl"))
    _names_version(jsonl, want)
    assert list(json.loads(jsonl.text.splitlines()[0])) == want.columns
    parquet = client.get(fam.url(how, "/download", "format=parquet"))
    _names_version(parquet, want)
    assert pq.read_schema(io.BytesIO(parquet.content)).names == want.columns


def check_status(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/status"))
    assert r.status_code == 200
    _names_version(r, want)
    assert (r.json()["rows_out"], r.json()["rows_rejected"]) == (want.rows, want.rejects)
    assert r.json()["latest_version"]["version"] == 2


def check_report(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/report"))
    assert r.status_code == 200
    _names_version(r, want)
    assert [c["name"] for c in r.json()["columns"]] == want.columns
    assert r.json()["rows_out"] == want.rows


def check_rejects(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/rejects"))
    assert r.status_code == 200
    _names_version(r, want)
    assert r.json()["total"] == want.rejects
    if want.rejects:
        assert r.json()["items"][0]["line"] == 22


def check_logs(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/logs"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    _names_version(r, want)
    assert want.id in r.text
    other = fam.v2 if want is fam.v1 else fam.v1
    assert other.id not in r.text


def check_stats(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/columns/code/stats"))
    assert r.status_code == 200, r.text
    _names_version(r, want)
    assert r.json()["chart"] == ("histogram" if want.number == 1 else "top_values")
    for column in ("menge", "region"):
        r = client.get(fam.url(how, f"/columns/{column}/stats"))
        if column in want.columns:
            assert r.status_code == 200
            _names_version(r, want)
        else:
            assert r.status_code == 422
            message = r.json()["error"]["message"]
            assert column in message and f"version {want.number}" in message
            assert r.headers["x-dataset-version-id"] == want.id


def check_versions(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    r = client.get(fam.url(how, "/versions"))
    assert r.status_code == 200
    _names_version(r, want)
    assert [v["id"] for v in r.json()["versions"]] == [fam.v1.id, fam.v2.id]


def check_metadata(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    # The metadata is the dataset's, shared by its versions; the answer names the
    # version the URL addresses, like every other.
    r = client.get(fam.url(how, "/metadata"))
    assert r.status_code == 200, r.text
    _names_version(r, want)
    assert "metadata" in r.json()


def check_webhooks(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    # The delivery log names the version addressed; the URLs belong to the name.
    r = client.get(fam.url(how, "/webhooks/deliveries"))
    assert r.status_code == 200, r.text
    _names_version(r, want)
    assert r.json()["dataset"] == "euro"
    config = client.get(fam.url(how, "/webhooks"))
    assert config.status_code == 200, config.text
    assert config.headers["x-dataset-name"] == "euro" and config.json()["dataset"] == "euro"


def check_filters(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    # A filter, sort or projection on a column this version lacks: 422 naming both.
    for query in ("region=north", "sort=menge", "columns=menge,region"):
        r = client.get(fam.url(how, query=query))
        missing = [c for c in ("menge", "region") if c in query and c not in want.columns]
        if missing:
            assert r.status_code == 422, (query, r.text)
            message = r.json()["error"]["message"]
            assert missing[0] in message and f"version {want.number} of dataset 'euro'" in message
            assert r.headers["x-dataset-version-id"] == want.id
        else:
            assert r.status_code == 200, (query, r.text)
            _names_version(r, want)


def check_ui(client: httpx.Client, fam: Family, how: str, want: Version) -> None:
    url = fam.url(how).replace("/datasets/", "/ui/datasets/", 1)
    r = client.get(url)
    assert r.status_code == 200
    _names_version(r, want)
    assert want.id in r.text
    other = fam.v2 if want is fam.v1 else fam.v1
    # The other version may appear only in the version switcher, never as the page's data.
    assert f"/datasets/{other.id}/" not in r.text
    # The metadata form edits the dataset, whichever version the page showed.
    edit = client.get(fam.url(how, "/edit").replace("/datasets/", "/ui/datasets/", 1))
    assert edit.status_code == 200 and edit.headers["x-dataset-name"] == "euro"


CHECKS: dict[str, Callable[[httpx.Client, Family, str, Version], None]] = {
    "rows": check_rows,
    "download": check_download,
    "status": check_status,
    "report": check_report,
    "rejects": check_rejects,
    "logs": check_logs,
    "column stats": check_stats,
    "versions": check_versions,
    "metadata": check_metadata,
    "webhooks": check_webhooks,
    "filters": check_filters,
    "ui page": check_ui,
}


@pytest.mark.parametrize("how", ADDRESSING)
@pytest.mark.parametrize("endpoint", list(CHECKS))
def test_every_endpoint_answers_about_one_version(
    family: Family, client: httpx.Client, endpoint: str, how: str
) -> None:
    CHECKS[endpoint](client, family, how, family.expected(how))


@contextmanager
def queued_third_version(family: Family, dataset_id: str) -> Iterator[Any]:
    """A third version of euro recorded queued (no runner picks it up); the catalog.
    Given up and deleted after."""
    from core import keys
    from tests.api.conftest import catalog_of

    catalog = catalog_of(family.server)
    catalog.add(
        dataset_id=dataset_id,
        filename="p.csv",
        raw_key=keys.raw_key(dataset_id),
        sha256="0" * 64,
        size_bytes=1,
        name="euro",
    )
    try:
        yield catalog
    finally:
        found = catalog.get(dataset_id)
        if found is not None and not found.is_final:
            catalog.mark_failed(dataset_id, "given up by the test")
        catalog.delete(dataset_id)


def test_the_stable_url_moves_only_to_a_ready_version(family: Family, client: httpx.Client) -> None:
    # A queued third version changes nothing the name serves.
    with queued_third_version(family, "f" * 32):
        r = client.get("/datasets/euro")
        _names_version(r, family.v2)
        status = client.get("/datasets/euro/status").json()
        assert status["version"] == 2 and status["latest_version"]["version"] == 3
        r = client.get("/datasets/euro/report?version=3")
        assert r.status_code == 202 and r.headers["x-dataset-version"] == "3"


def test_the_list_has_one_entry_per_dataset(family: Family, client: httpx.Client) -> None:
    body = client.get("/datasets?prefix=eur").json()
    entries = [i for i in body["items"] if i["name"] == "euro"]
    assert len(entries) == 1
    entry = entries[0]
    assert (entry["versions"], entry["latest_version"], entry["latest_ready_version"]) == (2, 2, 2)
    assert entry["latest_ready_id"] == family.v2.id and entry["rows"] == family.v2.rows
    assert entry["on_schema_change"] == "allow"
    assert client.get("/datasets?prefix=nothing-like-it").json()["total"] == 0
    ready = client.get("/datasets?status=ready&limit=1000").json()["items"]
    assert "euro" in [i["name"] for i in ready]
    assert client.get("/datasets?status=bogus").status_code == 422


def test_files_exist_only_for_their_version(family: Family) -> None:
    root = Path(family.server.data_dir) / "objects" / "processed"
    assert (root / family.v1.id / "rejects.csv").exists()
    assert not (root / family.v2.id / "rejects.csv").exists()


# Each endpoint's answer for a version's state, from the one table in api/answers.py:
# (status while queued, status once failed). Status and versions describe every state.
STATE_ANSWERS = {
    "": (202, 409),
    "/download": (202, 409),
    "/columns/betrag/stats": (202, 409),
    "/report": (202, 404),  # failed before a report was written
    "/rejects": (202, 200),
    "/logs": (202, 404),  # no run, so no log was saved
    "/status": (200, 200),
    "/versions": (200, 200),
}


def test_every_endpoint_answers_a_state_the_same_way(family: Family, client: httpx.Client) -> None:
    pending = "e" * 32
    with queued_third_version(family, pending) as catalog:
        for state in (0, 1):
            for suffix, answers in STATE_ANSWERS.items():
                r = client.get(f"/datasets/euro{suffix}?version=3")
                assert r.status_code == answers[state], (state, suffix, r.text)
                assert r.headers.get("x-dataset-version") == "3", (state, suffix)
                assert r.headers["x-dataset-version-id"] == pending
                if r.status_code == 202:
                    assert r.headers["retry-after"] == "2"
                    assert r.json()["status"] == "queued"
                if r.status_code == 409:
                    error = r.json()["error"]
                    assert error["code"] == "dataset_failed"
                    assert "given up by the test" in error["message"]
                    assert "version 3 of dataset 'euro'" in error["message"]
            if state == 0:
                catalog.mark_failed(pending, "given up by the test")
        # The stable URL never moved off version 2.
        assert client.get("/datasets/euro").headers["x-dataset-version"] == "2"
