"""A crash inside the API (here: a stored Parquet file corrupted behind its back) still
answers as every other answer does: JSON, the security headers, the request id."""

from __future__ import annotations

import httpx
import pytest

from api.security import COMMON
from tests.api.conftest import local_objects
from tests.servers.api import ApiServer, wait_final

CSV = b"id,city\n1,Oslo\n2,Lima\n"


@pytest.fixture
def corrupted(local_api: ApiServer, client: httpx.Client) -> str:
    r = client.post("/upload", params={"name": "crash-me"}, files={"file": ("c.csv", CSV)})
    assert r.status_code == 202, r.text
    dataset_id = str(r.json()["id"])
    assert wait_final(client, dataset_id)["status"] == "ready"
    parquet = [
        p
        for p in local_objects(local_api, "processed")
        if dataset_id in str(p) and p.suffix == ".parquet"
    ]
    assert parquet, local_objects(local_api, "processed")
    for path in parquet:
        path.write_bytes(b"PAR1 this is no longer a parquet file PAR1")
    return dataset_id


def test_a_crash_answers_json_with_security_headers_and_request_id(
    client: httpx.Client, corrupted: str
) -> None:
    r = client.get(f"/datasets/{corrupted}", headers={"X-Request-ID": "crash-0001"})
    assert r.status_code == 500, r.text
    assert r.headers["content-type"] == "application/json"
    assert r.json()["error"]["code"] == "internal_error"
    # Nothing of the exception leaks to the client.
    assert "parquet" not in r.text.lower()
    for name, value in COMMON:
        assert r.headers[name.decode()] == value.decode()
    assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    assert r.headers["x-request-id"] == "crash-0001"
