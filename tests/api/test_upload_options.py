"""Issue 12 through the API (embedded default, real HTTP): duplicates kept and reported
unless ``dedupe=true``, Unicode column names in filters, sort and projection, input that
is not CSV refused with 415, and the per-upload options validated, stored with the
version, named in the report and reused (or overridden) on reprocess."""

from __future__ import annotations

import csv
import io
import unicodedata
from urllib.parse import quote

import httpx
import pytest

from tests.corpus import CORPUS
from tests.servers.api import ApiServer, wait_final

from .conftest import catalog_of, local_objects, version_count

AIREDALE = CORPUS / "clevercsv" / "airedale.csv"


def upload(client: httpx.Client, query: str, data: bytes, name: str = "x.csv") -> dict[str, object]:
    r = client.post(f"/upload?{query}", files={"file": (name, data)})
    assert r.status_code == 202, r.text
    body: dict[str, object] = r.json()
    return body


def error_message(response: httpx.Response) -> str:
    return str(response.json()["error"]["message"])


# --- duplicates ------------------------------------------------------------------------


def test_duplicates_are_kept_and_reported_unless_dedupe(client: httpx.Client) -> None:
    data = AIREDALE.read_bytes()
    v1 = upload(client, "name=airedale", data, "airedale.csv")
    assert wait_final(client, str(v1["id"]))["status"] == "ready"
    body = client.get("/datasets/airedale?limit=100").json()
    assert body["total_rows"] == 54  # 55 records, one of them empty
    report = client.get("/datasets/airedale/report").json()
    assert report["duplicates"]["count"] == 13 and report["duplicates_removed"] == 0
    assert report["duplicates"]["lines"][:3] == [3, 5, 7]
    assert report["options"]["dedupe"] is False
    assert any("13 row(s) repeat an earlier row exactly" in w for w in report["warnings"])
    # Asked for: removed, and the choice is stored with the new version.
    r = client.post("/datasets/airedale/reprocess?dedupe=true")
    assert r.status_code == 202, r.text
    v2 = r.json()
    assert v2["options"]["dedupe"] is True
    assert wait_final(client, v2["id"])["status"] == "ready"
    assert client.get("/datasets/airedale").json()["total_rows"] == 41
    report = client.get("/datasets/airedale/report").json()
    assert (report["duplicates_removed"], report["options"]["dedupe"]) == (13, True)
    status = client.get("/datasets/airedale/status").json()
    assert status["options"]["dedupe"] is True
    # On upload too.
    v3 = upload(client, "name=airedale&dedupe=true", data, "airedale.csv")
    assert wait_final(client, str(v3["id"]))["status"] == "ready"
    assert client.get("/datasets/airedale?version=3").json()["total_rows"] == 41


# --- Unicode names in URLs -------------------------------------------------------------------

UNICODE_CSV = (
    "Straße,Größe (cm),Łódź,Ø Durchmesser,景點分類代碼1,%\n"
    "Hauptstraße,2,a,10,A1,5\n"
    "Bahnhofstraße,4,b,20,B2,6\n"
    "Zollstraße,7,c,30,C3,7\n"
    "Amtsstraße,9,d,40,D4,8\n"
).encode()


@pytest.fixture(scope="module")
def unicode_dataset(local_api: ApiServer) -> str:
    with httpx.Client(base_url=local_api.url, timeout=60) as c:
        body = upload(c, "name=unicode", UNICODE_CSV)
        assert wait_final(c, str(body["id"]))["status"] == "ready"
    return "unicode"


def test_unicode_names_keep_every_letter(client: httpx.Client, unicode_dataset: str) -> None:
    body = client.get(f"/datasets/{unicode_dataset}").json()
    assert [c["name"] for c in body["columns"]] == [
        "straße",
        "größe_cm",
        "łódź",
        "ø_durchmesser",
        "景點分類代碼1",
        "pct",
    ]
    report = client.get(f"/datasets/{unicode_dataset}/report").json()
    assert [c["original_name"] for c in report["columns"]][:2] == ["Straße", "Größe (cm)"]


def test_unicode_names_filter_sort_and_project_percent_encoded(
    client: httpx.Client, unicode_dataset: str
) -> None:
    url = (
        f"/datasets/{unicode_dataset}?{quote('größe_cm__gt')}=3"
        f"&sort=-{quote('straße')}&columns={quote('łódź')},{quote('straße')}"
    )
    assert "%C3%9F" in url  # really percent-encoded UTF-8
    r = client.get(url)
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [
        {"łódź": "c", "straße": "Zollstraße"},
        {"łódź": "b", "straße": "Bahnhofstraße"},
        {"łódź": "d", "straße": "Amtsstraße"},
    ]
    # Chinese and named-symbol columns too.
    r = client.get(f"/datasets/{unicode_dataset}?{quote('景點分類代碼1')}=B2&columns=pct")
    assert r.json()["rows"] == [{"pct": 6}]
    # A client that sends the name decomposed (NFD) finds the same column.
    nfd = unicodedata.normalize("NFD", "größe_cm")
    assert nfd != "größe_cm"
    r = client.get(f"/datasets/{unicode_dataset}?{quote(nfd)}__lte=2&columns={quote(nfd)}")
    assert r.status_code == 200, r.text
    assert r.json()["rows"] == [{"größe_cm": 2}]
    # Column stats and CSV export take the names too.
    r = client.get(f"/datasets/{unicode_dataset}/columns/{quote('größe_cm')}/stats")
    assert r.status_code == 200, r.text
    r = client.get(f"/datasets/{unicode_dataset}/download?format=csv&columns={quote('łódź')}")
    assert r.status_code == 200
    assert list(csv.reader(io.StringIO(r.text))) == [["łódź"], ["a"], ["b"], ["c"], ["d"]]


# --- input that is not CSV ------------------------------------------------------------------

# JSON arrays, NDJSON (and objects, which the processor refuses) are taken in:
# tests/api/test_inputs.py.
NOT_CSV = {
    "XML": b'<?xml version="1.0" encoding="UTF-8"?>\n<rows><row a="1"/></rows>\n',
    "HTML": b"<!DOCTYPE html>\n<html><head><title>t</title></head><body></body></html>\n",
}


@pytest.mark.parametrize("kind", list(NOT_CSV))
def test_input_that_is_not_csv_is_415(
    kind: str, client: httpx.Client, local_api: ApiServer
) -> None:
    before = version_count(catalog_of(local_api))
    raw_before = len(local_objects(local_api, "raw"))
    for data in (NOT_CSV[kind], NOT_CSV[kind] * 200):  # under and over the first KiB
        r = client.post("/upload", files={"file": ("data.csv", data)})
        assert r.status_code == 415, r.text
        assert r.json()["error"]["code"] == "unsupported_media_type"
        assert f"this file is {kind}" in error_message(r)
        assert "not CSV" in error_message(r)
    # The raw body path sniffs the same way.
    r = client.post("/upload", content=NOT_CSV[kind], headers={"Content-Type": "text/csv"})
    assert r.status_code == 415
    assert version_count(catalog_of(local_api)) == before
    assert len(local_objects(local_api, "raw")) == raw_before


# --- options ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("types=cep:money", "unknown type 'money' for column 'cep'"),
        ("types=cep", "types takes column:type pairs"),
        ("decimal=;", "decimal must be ',' or '.'"),
        ("date_order=ydm", "date_order must be one of dmy, mdy, ymd"),
        ("skip_rows=2&header_row=3", "give header_row or skip_rows, not both"),
        ("skip_rows=-1", ""),
    ],
)
def test_invalid_options_are_422(
    query: str, message: str, client: httpx.Client, local_api: ApiServer
) -> None:
    before = version_count(catalog_of(local_api))
    r = client.post(f"/upload?{query}", files={"file": ("x.csv", b"a,b\n1,2\n")})
    assert r.status_code == 422, r.text
    assert message in r.text
    assert version_count(catalog_of(local_api)) == before


def test_options_are_stored_reported_and_reused_on_reprocess(client: httpx.Client) -> None:
    data = (
        "Relatório de vendas\n"
        "cep;valor;data;obs\n"
        "01310100;1.500;01/02/2024;k.A.\n"
        "22041001;2.250;03/04/2024;ok\n"
        "22041001;2.250;03/04/2024;ok\n"
    ).encode()
    query = (
        "name=opts&skip_rows=1&decimal=,&date_order=dmy&types=cep:text"
        f"&null_tokens={quote('k.A.,n/d')}"
    )
    v1 = upload(client, query, data)
    assert wait_final(client, str(v1["id"]))["status"] == "ready"
    stored = client.get("/datasets/opts/status").json()["options"]
    assert {
        k: stored[k] for k in ("skip_rows", "decimal", "date_order", "types", "null_tokens")
    } == {
        "skip_rows": 1,
        "decimal": ",",
        "date_order": "dmy",
        "types": {"cep": "string"},
        "null_tokens": ["k.A.", "n/d"],
    }
    rows = client.get("/datasets/opts").json()["rows"]
    assert rows[0] == {"cep": "01310100", "valor": 1500, "data": "2024-02-01", "obs": None}
    report = client.get("/datasets/opts/report").json()
    options = report["options"]
    assert options["header_row"] == 2 and options["decimal"] == ","
    assert options["date_order"] == "dmy" and options["types"] == {"cep": "string"}
    assert options["null_tokens"][-2:] == ["k.A.", "n/d"] and options["dedupe"] is False
    # Reprocess: the source's options are kept, what is given overrides them.
    r = client.post("/datasets/opts/reprocess?dedupe=true&types=valor:float")
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["options"]["skip_rows"] == 1 and body["options"]["null_tokens"] == ["k.A.", "n/d"]
    assert body["options"]["types"] == {"valor": "float"} and body["options"]["dedupe"] is True
    final = wait_final(client, body["id"])
    assert final["status"] == "ready", final
    report = client.get("/datasets/opts/report").json()
    assert report["rows_out"] == 2 and report["options"]["types"] == {"valor": "float"}
    # A column the source version does not have: 422 naming it, before any work.
    r = client.post("/datasets/opts/reprocess?types=betrag:decimal")
    assert r.status_code == 422
    assert "'betrag'" in error_message(r) and "version 2 does not have" in error_message(r)


def test_an_unknown_column_in_types_fails_the_version_naming_it(client: httpx.Client) -> None:
    body = upload(client, "types=betrag:decimal", b"a,b\n1,2\n")
    final = wait_final(client, str(body["id"]))
    assert final["status"] == "failed"
    assert "types names column(s) this file does not have: 'betrag'" in str(final["error"])


def test_a_swallowed_record_is_rejected_and_listed(client: httpx.Client) -> None:
    lines = ["id,name", *(f"{i},x{i}" for i in range(1, 99)), '99,"unterminated,5']
    lines += ["19,x19", "20,x20", '21,x21"', *(f"{i},x{i}" for i in range(100, 200))]
    body = upload(client, "", ("\n".join(lines) + "\n").encode())
    assert wait_final(client, str(body["id"]))["status"] == "ready"
    rejects = client.get(f"/datasets/{body['id']}/rejects").json()
    assert rejects["total"] == 1
    assert rejects["items"][0]["line"] == 100
    assert rejects["items"][0]["reason"] == "suspected unterminated quote"
