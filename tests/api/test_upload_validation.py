"""Bad uploads get a clear JSON error and leave nothing behind (embedded default, real HTTP)."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from tests.servers.api import MULTIPART_TYPE, ApiServer, multipart_stream, wait_final

from .conftest import catalog_of, local_objects, version_count


def assert_nothing_stored(server: ApiServer) -> None:
    assert local_objects(server, "raw") == []
    assert version_count(catalog_of(server)) == 0
    leftovers = list((server.data_dir / "objects" / ".tmp").glob("*"))
    assert leftovers == []


@pytest.fixture(autouse=True)
def _clean_before(local_api: ApiServer) -> None:
    # Each case starts from an empty store so "nothing stored" is exact.
    assert_nothing_stored(local_api)


def error_of(response: httpx.Response) -> dict[str, str]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def test_empty_body_is_422(client: httpx.Client, local_api: ApiServer) -> None:
    r = client.post("/upload", content=b"", headers={"Content-Type": MULTIPART_TYPE})
    assert r.status_code == 422
    assert "empty" in error_of(r)["message"]
    assert_nothing_stored(local_api)


def test_empty_file_is_422(client: httpx.Client, local_api: ApiServer) -> None:
    r = client.post("/upload", files={"file": ("e.csv", b"")})
    assert r.status_code == 422
    assert "empty" in error_of(r)["message"]
    assert_nothing_stored(local_api)


@pytest.mark.parametrize(
    "content",
    [
        b"a,b\n1,\x002\n",
        b"%PDF-1.7\n" + b"\x14" * 200,
        b"7z\xbc\xaf\x27\x1c" + b"x" * 2000,
        b"PAR1" + b"\x00" * 2000,
        b"a,b\n" * 1000 + b"\x00",  # NUL after the first KiB is past the sniff window
    ],
    # zip, gzip and xls are read: tests/api/test_inputs.py.
    ids=["nul", "pdf", "7z", "parquet", "late-nul"],
)
def test_binary_content(client: httpx.Client, local_api: ApiServer, content: bytes) -> None:
    r = client.post("/upload", files={"file": ("x.csv", content)})
    if content.startswith(b"a,b\n" * 1000):
        # Only the first KiB is sniffed; the processor rejects the rest later.
        assert r.status_code == 202
        # Its run writes to the store: let it end before cleaning up behind it.
        wait_final(client, r.json()["id"])
        catalog = catalog_of(local_api)
        ds = catalog.get(r.json()["id"])
        assert ds is not None
        for key in local_objects(local_api, "raw"):
            key.unlink()
        catalog.delete(ds.id)
        return
    assert r.status_code == 415
    assert error_of(r)["code"] == "unsupported_media_type"
    assert_nothing_stored(local_api)


def test_utf16_with_bom_is_not_binary(client: httpx.Client, local_api: ApiServer) -> None:
    content = "\ufeffa,b\n1,2\n".encode("utf-16-le")
    r = client.post("/upload", files={"file": ("u16.csv", content)})
    assert r.status_code == 202
    ds_id = r.json()["id"]
    wait_final(client, ds_id)
    for key in local_objects(local_api, "raw"):
        key.unlink()
    catalog_of(local_api).delete(ds_id)


def test_wrong_content_type_is_415(client: httpx.Client, local_api: ApiServer) -> None:
    r = client.post("/upload", json={"file": "a,b"})
    assert r.status_code == 415
    assert "multipart/form-data" in error_of(r)["message"]
    assert_nothing_stored(local_api)


def test_missing_file_field_is_422(client: httpx.Client, local_api: ApiServer) -> None:
    r = client.post("/upload", files={"document": ("x.csv", b"a,b\n1,2\n")})
    assert r.status_code == 422
    assert "file" in error_of(r)["message"]
    assert_nothing_stored(local_api)


def test_truncated_multipart_is_400(client: httpx.Client, local_api: ApiServer) -> None:
    body = b"".join(multipart_stream([b"a,b\n1,2\n" * 1000], close=False))
    r = client.post("/upload", content=body, headers={"Content-Type": MULTIPART_TYPE})
    assert r.status_code == 400
    assert "closing boundary" in error_of(r)["message"]
    assert_nothing_stored(local_api)


def test_bad_override_is_422(client: httpx.Client, local_api: ApiServer) -> None:
    r = client.post("/upload?encoding=klingon", files={"file": ("x.csv", b"a\n1\n")})
    assert r.status_code == 422
    assert "klingon" in error_of(r)["message"]
    assert_nothing_stored(local_api)


def test_client_disconnect_leaves_nothing(local_api: ApiServer) -> None:
    head = next(iter(multipart_stream([])))
    sock = socket.create_connection(("127.0.0.1", local_api.port))
    sock.sendall(
        b"POST /upload HTTP/1.1\r\nHost: x\r\n"
        + f"Content-Type: {MULTIPART_TYPE}\r\nContent-Length: {100 * 1024 * 1024}\r\n\r\n".encode()
        + head
    )
    block = b"id,value\n" + b"1,abc\n" * 100_000
    for _ in range(10):
        sock.sendall(block)
    sock.close()
    # The server notices the disconnect asynchronously (at the latest when the body's
    # idle timeout, 30 s, ends the read); on a loaded machine that can take a while.
    deadline = time.monotonic() + 45
    while time.monotonic() < deadline:
        try:
            assert_nothing_stored(local_api)
            break
        except AssertionError:
            time.sleep(0.2)
    time.sleep(0.5)
    assert_nothing_stored(local_api)
    assert httpx.get(f"{local_api.url}/healthz").status_code == 200


def test_unknown_dataset_is_404(client: httpx.Client) -> None:
    for path in ("/datasets/0123456789abcdef0123456789abcdef", "/datasets/nope/report"):
        r = client.get(path)
        assert r.status_code == 404
        assert error_of(r)["code"] == "not_found"


def test_invalid_paging_is_422(client: httpx.Client) -> None:
    r = client.get("/datasets?limit=0")
    assert r.status_code == 422
    assert error_of(r)["code"] == "invalid_parameter"


def test_upload_limit(tmp_path_factory: pytest.TempPathFactory) -> None:
    limit = 1024 * 1024
    env = {"MINI_MAX_UPLOAD_BYTES": str(limit)}
    with ApiServer(tmp_path_factory.mktemp("api-limit"), env) as server:
        with httpx.Client(base_url=server.url, timeout=60) as c:
            # Streamed without Content-Length: caught while counting bytes.
            block = b"x,y\n" + b"1,2\n" * 65536
            body = multipart_stream(iter([block] * 8))
            r = c.post("/upload", content=body, headers={"Content-Type": MULTIPART_TYPE})
            assert r.status_code == 413
            assert "MINI_MAX_UPLOAD_BYTES" in error_of(r)["message"]
            # Declared up front: refused before the body is read.
            r = c.post("/upload", files={"file": ("big.csv", block * 5)})
            assert r.status_code == 413
            # Just under the limit is fine.
            r = c.post("/upload", files={"file": ("ok.csv", b"a,b\n" + b"1,2\n" * 1000)})
            assert r.status_code == 202
        assert len(local_objects(server, "raw")) == 2  # the CSV and its upload.json
        assert version_count(catalog_of(server)) == 1
