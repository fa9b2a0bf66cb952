"""Pandas transforms over HTTP (README: Your own pandas step), on the embedded default
with transforms registered the way an operator does: the shipped examples by module,
and a folder of modules on MINI_PROCESSOR__TRANSFORMS_PATH (a mounted ConfigMap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import catalog_of, local_objects, version_count
from tests.servers.api import ApiServer, wait_final

ROOT = Path(__file__).resolve().parents[2]
ORDERS = (ROOT / "examples" / "orders.csv").read_bytes()
# What an operator mounts: a module of their own, importing only the declaration.
STEPS = """
from processor.transforms import transform


@transform(version="1")
def explode(frame):
    if (frame["quantity"] > 5).any():
        raise ValueError("quantity above 5 is not allowed here")
    return frame


@transform(version="1", add={"flag": "int"})
def wrong(frame):
    frame["flag"] = "yes"
    return frame
"""
REGISTRY = {
    "line-total": "processor.transforms.examples:line_total",
    "country-codes": "processor.transforms.examples:country_codes",
    "drop-test-rows": "processor.transforms.examples:drop_test_rows",
    "explode": "acme_steps:explode",
    "wrong": "acme_steps:wrong",
}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    mounted = tmp_path_factory.mktemp("transforms")
    (mounted / "acme_steps.py").write_text(STEPS)
    env = {
        "MINI_PROCESSOR__TRANSFORMS": json.dumps(REGISTRY),
        "MINI_PROCESSOR__TRANSFORMS_PATH": json.dumps([str(mounted)]),
    }
    with ApiServer(tmp_path_factory.mktemp("api-transforms"), env=env) as running:
        yield running


@pytest.fixture
def client(server: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        yield c


def upload(client: httpx.Client, query: str, data: bytes = ORDERS) -> dict:
    r = client.post(f"/upload?{query}", files={"file": ("orders.csv", data)})
    assert r.status_code == 202, r.text
    return {**r.json(), **wait_final(client, r.json()["id"])}


def rows(client: httpx.Client, ref: str) -> list[dict]:
    r = client.get(f"/datasets/{ref}?limit=100")
    assert r.status_code == 200, r.text
    body: dict = r.json()
    return list(body["rows"])


def test_a_derived_column_is_served_and_the_report_names_the_transform(
    client: httpx.Client,
) -> None:
    v1 = upload(client, "name=orders&transform=line-total")
    assert v1["status"] == "ready", v1
    assert v1["transform"] == "line-total" and v1["options"]["transform"] == "line-total"
    served = rows(client, "orders")
    assert {r["order_id"]: r["line_total"] for r in served}[1001] == 39.8
    page = client.get("/datasets/orders?line_total__gt=20").json()
    assert sorted(r["order_id"] for r in page["rows"]) == [1001, 1003, 1007]
    report = client.get("/datasets/orders/report").json()
    used = report["transform"]
    assert (used["name"], used["version"]) == ("line-total", "1")
    assert used["function"] == "processor.transforms.examples:line_total"
    assert used["columns_added"][0]["column"] == "line_total"
    assert [c["name"] for c in report["columns"]][-1] == "line_total"
    listed = client.get("/datasets?prefix=orders").json()
    entry = next(d for d in listed["items"] if d["name"] == "orders")
    assert entry["transform"] == "line-total"


def test_a_later_upload_keeps_the_transform_and_none_removes_it(client: httpx.Client) -> None:
    first = upload(client, "name=kept&transform=line-total")
    assert first["status"] == "ready", first
    second = upload(client, "name=kept")
    assert second["status"] == "ready", second
    assert second["options"]["transform"] == "line-total"
    assert "line_total" in rows(client, "kept")[0]
    report = client.get("/datasets/kept/report").json()
    # Compared with version 1 by the file's columns: line_total is not "removed".
    assert report["schema_change"]["changed"] is False
    assert report["transform"]["name"] == "line-total"
    third = upload(client, "name=kept&transform=none")
    assert third["status"] == "ready", third
    assert third["options"]["transform"] is None
    assert "line_total" not in rows(client, "kept")[0]
    change = client.get("/datasets/kept/report").json()["transform_change"]
    assert change["from"] == "line-total" and change["columns_removed"] == ["line_total"]
    fourth = upload(client, "name=kept")
    assert fourth["options"]["transform"] is None


def test_dropped_rows_are_counted_in_the_report(client: httpx.Client) -> None:
    done = upload(client, "name=no-tests&transform=drop-test-rows")
    assert done["status"] == "ready", done
    assert done["rows_in"] == 7 and done["rows_out"] == 5
    report = client.get("/datasets/no-tests/report").json()
    assert report["transform"]["rows_removed"] == 2
    assert report["transform"]["removed_lines"] == [3, 6]
    assert any("removed 2 row(s)" in w for w in report["warnings"])


def test_reprocess_takes_a_transform(client: httpx.Client) -> None:
    first = upload(client, "name=codes")
    assert first["status"] == "ready" and first["options"]["transform"] is None
    r = client.post("/datasets/codes/reprocess?transform=country-codes")
    assert r.status_code == 202, r.text
    again = wait_final(client, r.json()["id"])
    assert again["status"] == "ready", again
    assert [row["country"] for row in rows(client, "codes")][:3] == ["BR", "DE", "NO"]
    assert client.post("/datasets/codes/reprocess?transform=nope").status_code == 422


def test_an_unknown_transform_is_422_naming_the_registered_ones(
    client: httpx.Client, server: ApiServer
) -> None:
    before = version_count(catalog_of(server))
    r = client.post("/upload?name=unknown&transform=pandas-eval", files={"file": ("a.csv", ORDERS)})
    assert r.status_code == 422, r.text
    message = r.text
    assert "unknown transform 'pandas-eval'" in message
    assert "country-codes, drop-test-rows, explode, line-total, wrong" in message
    assert version_count(catalog_of(server)) == before


def test_a_transform_raising_fails_the_version_with_its_message_and_lines(
    client: httpx.Client, server: ApiServer
) -> None:
    v1 = upload(client, "name=boom")
    assert v1["status"] == "ready"
    failed = upload(client, "name=boom&transform=explode")
    assert failed["status"] == "failed"
    error = str(failed["error"])
    assert "the transform 'explode' (acme_steps:explode, version 1)" in error
    assert "on lines 2-8 failed: ValueError: quantity above 5 is not allowed here" in error
    assert "(at acme_steps.py:" in error
    # Nothing half-written: no data of the failed version; version 1 stays served.
    processed = [p.name for p in local_objects(server, "processed") if failed["id"] in str(p)]
    assert "data.parquet" not in processed
    assert len(rows(client, "boom")) == 7
    assert client.get("/datasets/boom").headers.get("X-Dataset-Version") in (None, "1")


def test_a_frame_off_its_declaration_fails_naming_the_column(client: httpx.Client) -> None:
    failed = upload(client, "name=wrong&transform=wrong")
    assert failed["status"] == "failed"
    error = str(failed["error"])
    assert "column 'flag' is large_string (str)" in error and "declares it int64" in error
    assert "lines 2-8" in error


def test_the_upload_page_offers_the_registered_names(client: httpx.Client) -> None:
    page = client.get("/upload").text
    assert '<select id="opt-transform" name="transform"' in page
    for name in REGISTRY:
        assert f'<option value="{name}">{name}</option>' in page
    assert '<option value="none">' in page


def test_types_on_reprocess_know_the_columns_a_transform_was_given() -> None:
    """?types= names the file's columns: one the transform removed is still known."""
    from api.options import unknown_type_columns

    report = {
        "columns": [{"name": "n"}],
        "transform": {"input_columns": [{"name": "n"}, {"name": "note"}]},
    }
    assert unknown_type_columns({"note": "string", "x": "int"}, report) == ["x"]


def test_the_command_line_client_passes_the_transform(server: ApiServer) -> None:
    cli = Path(sys.executable).with_name("mini-pipeline")
    env = {**os.environ, "MINI_URL": server.url, "COLUMNS": "200"}
    env.pop("MINI_API_KEY", None)
    orders = str(ROOT / "examples" / "orders.csv")
    done = subprocess.run(
        [str(cli), "--json", "upload", orders, "--name", "cli", "--transform", "line-total",
         "--wait"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["options"]["transform"] == "line-total"
    done = subprocess.run(
        [str(cli), "--json", "reprocess", "cli", "--transform", "none", "--wait"],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["options"]["transform"] is None
