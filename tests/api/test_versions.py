"""Versions and lifecycle over HTTP: named uploads, the stable URL (latest ready
version) and the immutable one (a version's id), cursors, reprocess and delete, on the
real API with the local runner."""

from __future__ import annotations

import httpx

from core import keys
from tests.api.conftest import catalog_of, local_objects
from tests.servers.api import ApiServer, wait_final


def _csv(values: list[int]) -> bytes:
    return ("n,label\n" + "".join(f"{v},item {v}\n" for v in values)).encode()


def upload(client: httpx.Client, name: str, data: bytes, wait: bool = True) -> dict[str, object]:
    r = client.post(f"/upload?name={name}", files={"file": (f"{name}.csv", data)})
    assert r.status_code == 202, r.text
    body: dict[str, object] = r.json()
    if wait:
        wait_final(client, str(body["id"]))
    return body


def served(client: httpx.Client, dataset_id: str, extra: str = "") -> list[int]:
    body = client.get(f"/datasets/{dataset_id}?limit=1000{extra}").json()
    return [row["n"] for row in body["rows"]]


BAD_FILE = b"\n\n\n\n"  # only blank lines: the processor fails it (no columns)


def test_named_uploads_are_versions_and_latest_ready_is_served(
    client: httpx.Client, local_api: ApiServer
) -> None:
    v1 = upload(client, "sales", _csv([1, 2, 3]))
    v2 = upload(client, "sales", _csv([4, 5]))
    assert (v1["name"], v1["version"]) == ("sales", 1)
    assert (v2["name"], v2["version"]) == ("sales", 2)
    first, second = str(v1["id"]), str(v2["id"])
    # The name follows the newest ready version; a version's id is that version only.
    body = client.get("/datasets/sales").json()
    assert (body["id"], body["version"], body["name"]) == (second, 2, "sales")
    assert [r["n"] for r in body["rows"]] == [4, 5]
    for version_id, number, rows in ((first, 1, [1, 2, 3]), (second, 2, [4, 5])):
        r = client.get(f"/datasets/{version_id}")
        assert (r.json()["id"], r.json()["version"], r.json()["name"]) == (
            version_id,
            number,
            "sales",
        )
        assert r.headers["x-dataset-version"] == str(number)
        assert [x["n"] for x in r.json()["rows"]] == rows
    assert served(client, "sales", "&version=1") == [1, 2, 3]
    assert served(client, second, "&version=1") == [1, 2, 3]
    missing = client.get("/datasets/sales?version=9")
    assert missing.status_code == 404 and "no version 9" in missing.json()["error"]["message"]

    # A failed newer version never hides the last good one.
    v3 = upload(client, "sales", BAD_FILE)
    assert client.get(f"/datasets/{v3['id']}/status").json()["status"] == "failed"
    assert served(client, "sales") == [4, 5]
    failed = client.get("/datasets/sales?version=3")
    assert failed.status_code == 409
    assert failed.json()["status"] == "failed" and failed.json()["version"] == 3
    assert failed.json()["error"]["code"] == "dataset_failed"

    # Nor does one still in progress: queue a version nobody launches.
    catalog = catalog_of(local_api)
    pending_id = "e" * 32
    catalog.add(
        dataset_id=pending_id,
        filename="p.csv",
        raw_key=keys.raw_key(pending_id),
        sha256="0" * 64,
        size_bytes=1,
        name="sales",
    )
    try:
        assert served(client, "sales") == [4, 5]
        r = client.get("/datasets/sales?version=4")
        assert r.status_code == 202 and r.headers["retry-after"]
        assert r.json() == {"id": pending_id, "name": "sales", "version": 4, "status": "queued"}
        assert client.get(f"/datasets/{pending_id}").status_code == 202
        listing = client.get(f"/datasets/{first}/versions").json()
        assert listing["name"] == "sales"
        assert listing["latest_ready_version"] == 2
        assert [(v["version"], v["status"]) for v in listing["versions"]] == [
            (1, "ready"),
            (2, "ready"),
            (3, "failed"),
            (4, "queued"),
        ]
        assert [v["id"] for v in listing["versions"]][:3] == [first, second, v3["id"]]
        assert listing["versions"][0]["links"]["self"] == f"/datasets/{first}"
        assert listing["versions"][0]["links"]["dataset"] == "/datasets/sales"
    finally:
        catalog.mark_failed(pending_id, "given up by the test")


def test_nothing_ready_yet_answers_with_the_newest_status(client: httpx.Client) -> None:
    only = upload(client, "broken", BAD_FILE)
    for ref in ("broken", only["id"]):
        r = client.get(f"/datasets/{ref}")
        assert r.status_code == 409, r.text
        assert r.json()["status"] == "failed" and r.json()["id"] == only["id"]
    listing = client.get(f"/datasets/{only['id']}/versions").json()
    assert listing["latest_ready_version"] is None
    download = client.get("/datasets/broken/download")
    assert download.status_code == 409
    assert download.json()["error"]["code"] == "dataset_failed"


def test_cursor_stays_on_its_version(client: httpx.Client) -> None:
    upload(client, "walk", _csv(list(range(10))))
    page = client.get("/datasets/walk?limit=4").json()
    upload(client, "walk", _csv([100, 200]))
    assert served(client, "walk") == [100, 200]
    seen = [r["n"] for r in page["rows"]]
    url = page["next"]
    while url:
        page = client.get(url).json()
        assert page["version"] == 1
        seen.extend(r["n"] for r in page["rows"])
        url = page["next"]
    assert seen == list(range(10))


def test_unnamed_uploads_stay_separate_datasets(client: httpx.Client) -> None:
    a = client.post("/upload", files={"file": ("same.csv", _csv([1]))}).json()
    b = client.post("/upload", files={"file": ("same.csv", _csv([2]))}).json()
    for body in (a, b):
        wait_final(client, str(body["id"]))
        # Without a name, a dataset is named by its own id: a family of one.
        assert (body["name"], body["version"]) == (body["id"], 1)
    assert served(client, str(a["id"])) == [1]
    assert served(client, str(b["id"])) == [2]
    # Its id as a name adds versions to it; the name then wins over the id.
    c = upload(client, str(a["id"]), _csv([3]))
    assert c["version"] == 2 and served(client, str(a["id"])) == [3]
    assert served(client, str(a["id"]), "&version=1") == [1]
    bad = client.post("/upload?name=no%20spaces", files={"file": ("x.csv", _csv([1]))})
    assert bad.status_code == 422 and "name" in bad.json()["error"]["message"]
    # A new name that looks like a version id would shadow one: refused.
    shadow = client.post(f"/upload?name={'ab' * 16}", files={"file": ("x.csv", _csv([1]))})
    assert shadow.status_code == 422 and "version id" in shadow.json()["error"]["message"]


def test_reprocess_makes_a_new_version_from_the_same_file(client: httpx.Client) -> None:
    v1 = upload(client, "again", _csv([7, 8, 9]))
    upload(client, "again", BAD_FILE)
    r = client.post(f"/datasets/{v1['id']}/reprocess?version=1")
    assert r.status_code == 202, r.text
    body = r.json()
    assert (body["name"], body["version"], body["status"]) == ("again", 3, "queued")
    assert r.headers["location"] == f"/datasets/{body['id']}"
    assert body["id"] != v1["id"]
    assert wait_final(client, body["id"])["status"] == "ready"
    current = client.get("/datasets/again").json()
    assert (current["version"], [x["n"] for x in current["rows"]]) == (3, [7, 8, 9])
    # Without ?version=, the version the URL serves (the name: now 3) is reprocessed.
    again = client.post("/datasets/again/reprocess").json()
    assert again["version"] == 4
    finished = wait_final(client, again["id"])
    assert finished["status"] == "ready" and finished["options"]["baseline"]["version"] == 3
    assert client.get("/datasets/again").json()["version"] == 4
    # Reprocessing the failed upload fails again, and hides nothing.
    failing = client.post("/datasets/again/reprocess?version=2").json()
    assert wait_final(client, failing["id"])["status"] == "failed"
    body = client.get("/datasets/again").json()
    assert (body["version"], [x["n"] for x in body["rows"]]) == (4, [7, 8, 9])
    assert client.post("/datasets/again/reprocess?version=99").status_code == 404


def test_reprocess_takes_the_upload_overrides(client: httpx.Client) -> None:
    data = b"a;b\n1;x\n2;y\n"
    v1 = upload(client, "semi", data)
    assert [c["name"] for c in client.get("/datasets/semi").json()["columns"]] == ["a", "b"]
    # Under the default policy (pin) a new header would fail the version: allow it.
    pinned = client.post("/datasets/semi/reprocess?delimiter=,")
    assert pinned.status_code == 202
    assert wait_final(client, pinned.json()["id"])["status"] == "failed"
    r = client.post(
        "/datasets/semi/reprocess?version=1&delimiter=,&encoding=latin-1&header_row=1"
        "&on_schema_change=allow"
    )
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["options"]["delimiter"] == ","
    assert body["options"]["encoding"] == "iso8859-1"
    assert body["options"]["on_schema_change"] == "allow"
    assert wait_final(client, body["id"])["status"] == "ready"
    assert client.get("/datasets?prefix=semi").json()["items"][0]["on_schema_change"] == "allow"
    # Read with "," the header is one column, as the override asked.
    columns = client.get(f"/datasets/{body['id']}").json()["columns"]
    assert [c["name"] for c in columns] == ["a_b"]
    report = client.get(f"/datasets/{body['id']}/report").json()
    assert report["version"] == 3
    assert report["options"]["delimiter"] == ","
    assert report["source"]["delimiter"] == ","
    assert report["source"]["encoding"] in ("iso8859-1", "latin-1", "latin_1")
    # The source version is untouched, and its options stay its own.
    assert client.get(f"/datasets/{v1['id']}/status").json()["options"].get("delimiter") is None
    bad = client.post("/datasets/semi/reprocess?delimiter=x")
    assert bad.status_code == 422
    bad = client.post("/datasets/semi/reprocess?on_schema_change=maybe")
    assert bad.status_code == 422 and "pin" in bad.json()["error"]["message"]


def test_delete_removes_objects_and_rows(client: httpx.Client, local_api: ApiServer) -> None:
    v1 = upload(client, "gone", _csv([1]))
    v2 = upload(client, "gone", _csv([2]))
    other = upload(client, "kept", _csv([3]))
    ids = [str(v1["id"]), str(v2["id"])]
    for bucket in ("raw", "processed"):
        for ds in ids:
            assert any(p.parent.name == ds for p in local_objects(local_api, bucket))
    r = client.delete("/datasets/gone")
    assert r.status_code == 204 and r.content == b""
    for ds in ids:
        assert client.get(f"/datasets/{ds}").status_code == 404
        assert client.get(f"/datasets/{ds}/status").status_code == 404
    for bucket in ("raw", "processed"):
        assert not any(p.parent.name in ids for p in local_objects(local_api, bucket))
    catalog = catalog_of(local_api)
    assert catalog.versions("gone") == []
    assert all(catalog.get(ds) is None for ds in ids)
    assert served(client, str(other["id"])) == [3]
    assert client.delete(f"/datasets/{ids[0]}").status_code == 404
    assert client.delete("/datasets/gone").status_code == 404


def test_delete_one_version_and_refuse_while_processing(
    client: httpx.Client, local_api: ApiServer
) -> None:
    upload(client, "partial", _csv([1]))
    v2 = upload(client, "partial", _csv([2]))
    gone = client.delete("/datasets/partial?version=2")
    assert gone.status_code == 204
    # The answer names what it removed: that version.
    assert (gone.headers["x-dataset-name"], gone.headers["x-dataset-version"]) == ("partial", "2")
    assert gone.headers["x-dataset-version-id"] == v2["id"]
    assert served(client, "partial") == [1]
    assert client.get(f"/datasets/{v2['id']}").status_code == 404
    # A version's own URL deletes that version only.
    v3 = upload(client, "partial", _csv([3]))
    gone = client.delete(f"/datasets/{v3['id']}")
    assert gone.status_code == 204 and gone.headers["x-dataset-version-id"] == v3["id"]
    assert served(client, "partial") == [1]
    catalog = catalog_of(local_api)
    busy = "d" * 32
    catalog.add(
        dataset_id=busy,
        filename="b.csv",
        raw_key=keys.raw_key(busy),
        sha256="0" * 64,
        size_bytes=1,
        name="partial",
    )
    try:
        r = client.delete("/datasets/partial")
        assert r.status_code == 409 and r.headers["retry-after"]
        assert "queued" in r.json()["error"]["message"]
        assert served(client, "partial") == [1]
    finally:
        catalog.mark_failed(busy, "given up by the test")
    everything = client.delete("/datasets/partial")
    assert everything.status_code == 204 and everything.headers["x-dataset-name"] == "partial"
    # Every version went: no one version to name.
    assert "x-dataset-version" not in everything.headers
