"""Schema-change policies over HTTP, with real upload sequences on the embedded default:
the `euro` case (v2 drops `menge`, adds `region`, one `k.A.` in the number column
`betrag`) under pin (the default), reject and allow, and a saved query that must keep
its meaning."""

from __future__ import annotations

import httpx

from tests.servers.api import wait_final

# pt-BR/de style: `;`-separated, decimal commas. 12 rows, 11 of them above 5000.
V1 = "datum;betrag;menge\n" + "".join(
    f"2024-01-{d:02d};{d * 1000},{d:02d};{d}\n" for d in range(1, 13)
)
# v2: `menge` gone, `region` new, one `k.A.` in `betrag` (line 5), '608,17' below 5000.
V2_ROWS = [
    ("2024-02-01", "7.000,50", "nord"),
    ("2024-02-02", "608,17", "sued"),
    ("2024-02-03", "9.999,99", "nord"),
    ("2024-02-04", "k.A.", "west"),
    *[(f"2024-02-{d:02d}", f"{d * 1000},25", "ost") for d in range(5, 25)],
]
V2 = "datum;betrag;region\n" + "".join(";".join(r) + "\n" for r in V2_ROWS)
# v2 keeping `menge` (all empty) so that only the stray value differs.
V2_KEEPS = "datum;betrag;menge;region\n" + "".join(f"{d};{b};;{r}\n" for d, b, r in V2_ROWS)


def send(client: httpx.Client, name: str, data: str, policy: str | None = None) -> dict:
    query = f"name={name}" + (f"&on_schema_change={policy}" if policy else "")
    r = client.post(f"/upload?{query}", files={"file": (f"{name}.csv", data.encode())})
    assert r.status_code == 202, r.text
    body: dict = r.json()
    assert body["filename"] == f"{name}.csv"
    return body


def upload(client: httpx.Client, name: str, data: str, policy: str | None = None) -> dict:
    body = send(client, name, data, policy)
    return {**body, **wait_final(client, body["id"])}


def columns(entries: list[dict]) -> list[str]:
    return [e["column"] for e in entries]


def saved_query(client: httpx.Client, name: str) -> httpx.Response:
    return client.get(f"/datasets/{name}?betrag__gt=5000&limit=1000")


def test_pin_is_the_default_and_keeps_the_served_type(client: httpx.Client) -> None:
    v1 = upload(client, "euro-pin", V1)
    assert v1["status"] == "ready" and v1["on_schema_change"] == "pin"
    before = saved_query(client, "euro-pin")
    assert before.status_code == 200 and before.json()["total_rows"] == 8  # 5000 < 5000.x..12000
    types = {c["name"]: c["type"] for c in before.json()["columns"]}
    assert types["betrag"] in ("float", "decimal")

    # A version that loses a column fails loudly; version 1 stays served.
    dropped = upload(client, "euro-pin", V2)
    assert dropped["status"] == "failed"
    assert "menge" in dropped["error"] and "missing" in dropped["error"]
    assert saved_query(client, "euro-pin").headers["x-dataset-version"] == "1"

    # One stray value: the column stays a number, the row is quarantined with its line.
    v3 = upload(client, "euro-pin", V2_KEEPS)
    assert v3["status"] == "ready", v3
    assert v3["options"]["baseline"] == {"id": v1["id"], "version": 1}
    after = saved_query(client, "euro-pin")
    assert after.headers["x-dataset-version"] == "3"
    types = {c["name"]: c["type"] for c in after.json()["columns"]}
    assert types["betrag"] in ("float", "decimal") and "region" in types
    values = [r["betrag"] for r in after.json()["rows"]]
    # Compared as numbers: '608,17' is below 5000, 'k.A.' is not a number at all.
    assert all(float(v) > 5000 for v in values) and len(values) == 22
    rejects = client.get("/datasets/euro-pin/rejects").json()
    assert rejects["version"] == 3 and rejects["total"] == 1
    item = rejects["items"][0]
    assert item["line"] == 5 and "k.A." in item["raw"]
    said = f"{item['reason']} {item['detail']}"
    assert "'k.A.' is not a float" in said and "version 1" in said and "betrag" in said
    diff = client.get("/datasets/euro-pin/versions").json()["versions"][2]["schema_diff"]
    assert diff["policy"] == "pin" and diff["baseline"]["version"] == 1
    assert columns(diff["added"]) == ["region"] and diff["removed"] == []
    report = client.get("/datasets/euro-pin/report").json()
    assert report["schema_diff"] == diff and report["options"]["on_schema_change"] == "pin"


def test_reject_fails_any_change_and_keeps_serving(client: httpx.Client) -> None:
    v1 = upload(client, "euro-reject", V1, "reject")
    assert v1["status"] == "ready"
    v2 = upload(client, "euro-reject", V2)  # the policy is stored with the dataset
    assert v2["status"] == "failed"
    for word in ("menge", "region", "betrag"):
        assert word in v2["error"]
    r = saved_query(client, "euro-reject")
    assert r.headers["x-dataset-version"] == "1" and r.json()["total_rows"] == 8
    versions = client.get("/datasets/euro-reject/versions").json()
    assert versions["latest_ready_version"] == 1 and versions["latest_version"] == 2
    assert versions["versions"][1]["schema_diff"]["changed"] is True


def test_allow_serves_the_new_schema_and_records_the_diff(client: httpx.Client) -> None:
    upload(client, "euro-allow", V1, "allow")
    v2 = upload(client, "euro-allow", V2)
    assert v2["status"] == "ready"
    r = client.get("/datasets/euro-allow?limit=1000")
    types = {c["name"]: c["type"] for c in r.json()["columns"]}
    assert types["betrag"] == "string" and "menge" not in types
    diff = client.get("/datasets/euro-allow/versions").json()["versions"][1]["schema_diff"]
    assert columns(diff["removed"]) == ["menge"] and columns(diff["added"]) == ["region"]
    change = next(c for c in diff["type_changed"] if c["column"] == "betrag")
    assert change["to"] == "string" and not change["widened"]
    assert {"line": 5, "value": "k.A."} in change["counterexamples"]
    # The old saved query names a column v2 lacks: 422 naming it and the version.
    gone = client.get("/datasets/euro-allow?menge__gt=3")
    assert gone.status_code == 422
    assert "menge" in gone.json()["error"]["message"]
    assert "version 2" in gone.json()["error"]["message"]
    # Version 1 still answers as it did, on its own URL.
    assert saved_query(client, "euro-allow").json()["version"] == 2
    old = client.get("/datasets/euro-allow?version=1&betrag__gt=5000")
    assert old.json()["total_rows"] == 8


def test_an_unknown_policy_is_refused(client: httpx.Client) -> None:
    r = client.post(
        "/upload?name=euro-bad&on_schema_change=sometimes",
        files={"file": ("x.csv", V1.encode())},
    )
    assert r.status_code == 422 and "pin" in r.json()["error"]["message"]
    assert client.get("/datasets/euro-bad").status_code == 404


def test_versions_start_in_order_so_the_baseline_is_final(client: httpx.Client) -> None:
    """v2 sent while v1 is still queued: it waits for v1 and is compared with it, never
    with nothing (which would let `k.A.` turn the column into text unnoticed)."""
    first = send(client, "euro-burst", V1)
    second = send(client, "euro-burst", V2_KEEPS)
    third = send(client, "euro-burst", V2_KEEPS)
    done = [wait_final(client, b["id"]) for b in (first, second, third)]
    assert [d["status"] for d in done] == ["ready", "ready", "ready"], done
    assert done[1]["options"]["baseline"] == {"id": first["id"], "version": 1}
    assert done[2]["options"]["baseline"] == {"id": second["id"], "version": 2}
    # Each started only after the one before it had finished.
    assert done[1]["started_at"] >= done[0]["finished_at"]
    assert done[2]["started_at"] >= done[1]["finished_at"]
    types = {c["name"]: c["type"] for c in client.get("/datasets/euro-burst").json()["columns"]}
    assert types["betrag"] in ("float", "decimal")
