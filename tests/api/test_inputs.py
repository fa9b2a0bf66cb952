"""Each input partners send, uploaded to the live API and served once ready; binary
formats the processor cannot read keep their 415."""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import zipfile

import httpx
import pytest

from tests.api.conftest import catalog_of, local_objects, version_count
from tests.servers.api import ApiServer, wait_final
from tests.workbooks import Cell, ods, xls, xlsx

ROWS: list[list[Cell]] = [
    ["id", "city", "amount", "day"],
    [1, "Recife", 10, dt.date(2024, 1, 2)],
    [2, "Natal", 2.5, dt.date(2024, 2, 3)],
    [3, "Olinda", 7, dt.date(2024, 3, 4)],
]
CSV = b"id,city,amount,day\n1,Recife,10,2024-01-02\n2,Natal,2.5,2024-02-03\n3,Olinda,7,2024-03-04\n"
SERVED = [
    {"id": 1, "city": "Recife", "amount": 10.0, "day": "2024-01-02"},
    {"id": 2, "city": "Natal", "amount": 2.5, "day": "2024-02-03"},
    {"id": 3, "city": "Olinda", "amount": 7.0, "day": "2024-03-04"},
]


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return out.getvalue()


def records() -> list[dict[str, object]]:
    return [
        {str(k): str(v) if isinstance(v, dt.date) else v for k, v in zip(ROWS[0], row, strict=True)}
        for row in ROWS[1:]
    ]


def ndjson() -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in records())


INPUTS = {
    "xlsx": ("sales.xlsx", xlsx({"Notes": [["see Sales"]], "Sales": ROWS}), "&sheet=Sales"),
    "ods": ("sales.ods", ods({"Sales": ROWS}), ""),
    # The hand-made xls has no date formats: its days are text cells.
    "xls": ("sales.xls", xls("Sales", [[*r[:3], str(r[3])] for r in ROWS]), ""),
    "gzip": ("sales.csv.gz", gzip.compress(CSV), ""),
    "zip": ("sales.zip", zipped("sales.csv", CSV), ""),
    "json": ("sales.json", json.dumps(records(), indent=2).encode(), ""),
    "ndjson": ("sales.ndjson", ndjson(), ""),
}


@pytest.mark.parametrize("kind", list(INPUTS))
def test_each_input_is_served_once_ready(kind: str, client: httpx.Client) -> None:
    name, data, query = INPUTS[kind]
    r = client.post(f"/upload?name=in-{kind}{query}", files={"file": (name, data)})
    assert r.status_code == 202, r.text
    status = wait_final(client, str(r.json()["id"]))
    assert status["status"] == "ready", status
    rows = client.get(f"/datasets/in-{kind}?limit=10").json()["rows"]
    assert rows == SERVED
    report = client.get(f"/datasets/in-{kind}/report").json()
    assert report["input"]["format"] == kind
    assert [c["type"] for c in report["columns"]] == ["int", "string", "float", "date"]
    if kind == "xlsx":
        assert report["input"]["sheet"] == "Sales"
        options = status["options"]
        assert isinstance(options, dict) and options["sheet"] == "Sales"


def test_the_raw_body_path_takes_them_too(client: httpx.Client) -> None:
    r = client.post(
        "/upload?name=in-raw-gzip&filename=sales.csv.gz",
        content=gzip.compress(CSV),
        headers={"Content-Type": "application/gzip"},
    )
    assert r.status_code == 202, r.text
    assert wait_final(client, str(r.json()["id"]))["status"] == "ready"
    assert client.get("/datasets/in-raw-gzip?limit=10").json()["rows"] == SERVED


def test_a_zip_with_two_files_fails_naming_them(client: httpx.Client) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("jan.csv", CSV)
        z.writestr("feb.csv", CSV)
    r = client.post("/upload?name=in-two", files={"file": ("months.zip", out.getvalue())})
    assert r.status_code == 202, r.text
    status = wait_final(client, str(r.json()["id"]))
    assert status["status"] == "failed"
    assert "holds 2 files ('jan.csv', 'feb.csv')" in str(status["error"])


def test_a_missing_sheet_fails_naming_the_sheets(client: httpx.Client) -> None:
    data = xlsx({"Notes": [["x"]], "Sales": ROWS})
    r = client.post("/upload?name=in-sheet&sheet=Orders", files={"file": ("s.xlsx", data)})
    assert r.status_code == 202, r.text
    status = wait_final(client, str(r.json()["id"]))
    assert status["status"] == "failed"
    assert "no sheet 'Orders'; its sheets are 'Notes', 'Sales'" in str(status["error"])


def test_an_empty_sheet_option_is_422(client: httpx.Client) -> None:
    r = client.post("/upload?sheet=%20", files={"file": ("s.csv", CSV)})
    assert r.status_code == 422
    assert "sheet is empty" in r.text


@pytest.mark.parametrize(
    "data",
    [
        b"%PDF-1.7\n" + b"\x00" * 2000,
        b"PAR1" + b"\x00" * 2000,
        b"7z\xbc\xaf\x27\x1c" + b"\x00" * 2000,
        b'<?xml version="1.0"?>\n<rows><row a="1"/></rows>\n',
    ],
    ids=["pdf", "parquet", "7z", "xml"],
)
def test_other_formats_keep_their_415(
    data: bytes, client: httpx.Client, local_api: ApiServer
) -> None:
    before = version_count(catalog_of(local_api))
    raw_before = len(local_objects(local_api, "raw"))
    r = client.post("/upload", files={"file": ("data.csv", data)})
    assert r.status_code == 415, r.text
    assert r.json()["error"]["code"] == "unsupported_media_type"
    assert version_count(catalog_of(local_api)) == before
    assert len(local_objects(local_api, "raw")) == raw_before


def test_reprocess_reads_another_sheet(client: httpx.Client) -> None:
    data = xlsx({"Notes": [["about"], ["see the sheet Sales"]], "Sales": ROWS})
    r = client.post("/upload?name=in-resheet", files={"file": ("book.xlsx", data)})
    assert r.status_code == 202, r.text
    assert wait_final(client, str(r.json()["id"]))["status"] == "ready"
    assert client.get("/datasets/in-resheet/report").json()["input"]["sheet"] == "Notes"
    # Another sheet is other columns: the served schema is pinned unless allowed.
    r = client.post("/datasets/in-resheet/reprocess?sheet=Sales")
    assert r.status_code == 202, r.text
    status = wait_final(client, str(r.json()["id"]))
    assert status["status"] == "failed"
    assert "column 'about' of version 1 is missing" in str(status["error"])
    r = client.post("/datasets/in-resheet/reprocess?sheet=Sales&on_schema_change=allow")
    assert r.status_code == 202, r.text
    assert r.json()["options"]["sheet"] == "Sales"
    assert wait_final(client, str(r.json()["id"]))["status"] == "ready"
    assert client.get("/datasets/in-resheet?limit=10").json()["rows"] == SERVED
    assert client.get("/datasets/in-resheet/report").json()["input"]["sheet"] == "Sales"
