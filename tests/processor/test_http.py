"""The processor's features seen through the real API: upload overrides reach the
processor, rejected rows are served at GET /datasets/{id}/rejects, and the reject
ratio and field size limits come from MINI_* settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers.api import ApiServer, wait_final


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    env = {"MINI_MAX_REJECT_RATIO": "0.25", "MINI_MAX_FIELD_BYTES": "4096"}
    with (
        ApiServer(tmp_path_factory.mktemp("processor-http"), env) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        yield client


def upload(api: httpx.Client, data: bytes, **params: Any) -> dict[str, Any]:
    r = api.post("/upload", files={"file": ("data.csv", data)}, params=params)
    assert r.status_code == 202, r.text
    return wait_final(api, r.json()["id"]) | {"id": r.json()["id"]}


def test_overrides_at_upload(api: httpx.Client) -> None:
    data = "Relatório 2024\nfonte: teste\nnome;cidade\nJoão;São Paulo\nAna;Belém\n"
    status = upload(api, data.encode("latin-1"), encoding="latin-1", delimiter=";", header_row=3)
    assert status["status"] == "ready", status
    report = api.get(f"/datasets/{status['id']}/report").json()
    assert report["source"]["encoding"] == "iso8859-1"
    assert report["source"]["encoding_detected_by"] == "option"
    assert report["source"]["delimiter"] == ";"
    assert report["source"]["header"] == {"present": True, "detected": False, "line": 3}
    rows = api.get(f"/datasets/{status['id']}").json()["rows"]
    assert rows == [{"nome": "João", "cidade": "São Paulo"}, {"nome": "Ana", "cidade": "Belém"}]


def test_no_header_override(api: httpx.Client) -> None:
    status = upload(api, b"a,b\n1,2\n", no_header="true")
    rows = api.get(f"/datasets/{status['id']}").json()["rows"]
    assert rows == [{"column_1": "a", "column_2": "b"}, {"column_1": "1", "column_2": "2"}]


def test_rejects_are_served_page_by_page(api: httpx.Client) -> None:
    lines = ["id,name,score"] + [f"{i},n{i},{i}" for i in range(1, 41)]
    for i in (5, 9, 13, 17, 21):
        lines[i] = f"{i},short"  # one field missing: rejected, never padded
    lines[30] = "30,too,many,fields"
    status = upload(api, ("\n".join(lines) + "\n").encode())
    assert status["status"] == "ready", status
    assert status["rows_rejected"] == 6
    first = api.get(f"/datasets/{status['id']}/rejects", params={"limit": 4}).json()
    assert (first["total"], first["offset"], first["limit"]) == (6, 0, 4)
    assert [item["line"] for item in first["items"]] == [6, 10, 14, 18]
    assert first["items"][0] == {
        "line": 6,
        "reason": "wrong number of fields",
        "detail": "expected 3 fields, found 2",
        "raw": "5,short",
    }
    second = api.get(first["next"]).json()
    assert [(i["line"], i["raw"]) for i in second["items"]] == [
        (22, "21,short"),
        (31, "30,too,many,fields"),
    ]
    assert second["next"] is None
    kept = api.get(f"/datasets/{status['id']}", params={"limit": 100}).json()["rows"]
    assert len(kept) == 34 and all(r["name"] == f"n{r['id']}" for r in kept)


def test_no_rejects_is_an_empty_list(api: httpx.Client) -> None:
    status = upload(api, b"a,b\n1,2\n")
    body = api.get(f"/datasets/{status['id']}/rejects").json()
    assert (body["total"], body["items"], body["next"]) == (0, [], None)
    missing = api.get(f"/datasets/{'0' * 32}/rejects")
    assert missing.status_code == 404


def test_too_many_rejects_fails_and_keeps_them(api: httpx.Client) -> None:
    status = upload(api, b"a,b\n1,2\n3\n4\n5,6\n")
    assert status["status"] == "failed"
    assert status["error"] == (
        "2 of 4 rows (50%) were rejected (wrong number of fields: 2), more than the 25% "
        "allowed (MINI_MAX_REJECT_RATIO); the first is line 3: expected 2 fields, found 1"
    )
    body = api.get(f"/datasets/{status['id']}/rejects").json()
    assert [i["raw"] for i in body["items"]] == ["3", "4"]


def test_field_size_limit_from_settings(api: httpx.Client) -> None:
    status = upload(api, b"a,b\n1," + b"x" * 5000 + b"\n")
    assert status["status"] == "failed"
    assert status["error"] == (
        "column 'b' has a value of 5000 bytes on line 2; the limit is 4096 bytes "
        "(MINI_MAX_FIELD_BYTES)"
    )


def test_rejects_csv_is_valid_csv(api: httpx.Client, tmp_path: Path) -> None:
    tricky = 'a,b\n1,2\n"x, ""y""\n",3,4\n5,6\n7,8\n9,10\n'
    status = upload(api, tricky.encode())
    assert status["status"] == "ready", status
    item = api.get(f"/datasets/{status['id']}/rejects").json()["items"][0]
    assert item["line"] == 3
    assert item["raw"] == '"x, ""y""\n",3,4'
    assert next(csv.reader(io.StringIO(item["raw"]))) == ['x, "y"\n', "3", "4"]
