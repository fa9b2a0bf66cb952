"""API keys (MINI_API_KEYS), over real HTTP against the real uvicorn process."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from tests.api.conftest import catalog_of, local_objects, version_count
from tests.servers.api import MULTIPART_TYPE, ApiServer, multipart_stream, wait_final

KEYS = ["k1-" + "a" * 40, "k2-" + "b" * 40, "k3-" + "c" * 40]
CSV = b"city,temp\nOslo,3\nLima,19\n"


@pytest.fixture(scope="module")
def keyed_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    # Spaces around the commas are allowed: a list typed by hand into a Secret.
    env = {"MINI_API_KEYS": f"{KEYS[0]}, {KEYS[1]} ,{KEYS[2]}"}
    with ApiServer(tmp_path_factory.mktemp("api-keys"), env) as server:
        yield server


def http(server: ApiServer, key: str | None = None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key is not None else {}
    return httpx.Client(base_url=server.url, timeout=60, headers=headers)


def assert_unauthorized(r: httpx.Response, error: str | None = None) -> None:
    assert r.status_code == 401, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["error"] and set(body["error"]) == {"code", "message"}
    assert body["error"]["code"] == "unauthorized"
    assert body["error"]["message"]
    challenge = r.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="mini-pipeline"')
    if error:
        assert f'error="{error}"' in challenge
    else:
        assert "error=" not in challenge


def stored(server: ApiServer) -> tuple[list[Path], int]:
    """Raw objects and catalog rows: a rejected upload must add to neither."""
    catalog = catalog_of(server)
    try:
        return local_objects(server), version_count(catalog)
    finally:
        catalog.engine.dispose()


def test_probes_are_open(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        assert c.get("/healthz").status_code == 200
        assert c.get("/readyz").json() == {"status": "ready"}
        # Prometheus scrapes without a key (README: For operators, Metrics).
        scraped = c.get("/metrics")
        assert scraped.status_code == 200 and "mini_http_requests_total" in scraped.text
    with http(keyed_api, "wrong") as c:
        assert c.get("/healthz").status_code == 200


@pytest.mark.parametrize("path", ["/datasets", "/docs", "/openapi.json", "/upload", "/nope"])
def test_no_key_is_401(keyed_api: ApiServer, path: str) -> None:
    with http(keyed_api) as c:
        r = c.get(path)
    assert_unauthorized(r)
    assert "Bearer" in r.json()["error"]["message"]


@pytest.mark.parametrize(
    "authorization",
    [
        f"Basic {KEYS[0]}",
        "Bearer",
        f"Token {KEYS[0]}",
        KEYS[0],
    ],
    ids=["basic-scheme", "bearer-no-token", "other-scheme", "no-scheme"],
)
def test_malformed_authorization_is_401(keyed_api: ApiServer, authorization: str) -> None:
    r = httpx.get(f"{keyed_api.url}/datasets", headers={"Authorization": authorization})
    assert_unauthorized(r, "invalid_request")


@pytest.mark.parametrize(
    "key",
    ["wrong", KEYS[0][:-1], KEYS[0] + "x", KEYS[0].upper(), f"{KEYS[0]},{KEYS[1]}", "k1-"],
    ids=["wrong", "prefix", "extended", "case", "whole-list", "short"],
)
def test_wrong_key_is_401(keyed_api: ApiServer, key: str) -> None:
    before = stored(keyed_api)
    with http(keyed_api, key) as c:
        assert_unauthorized(c.get("/datasets"), "invalid_token")
        assert_unauthorized(
            c.post("/upload", content=CSV, headers={"Content-Type": "text/csv"}), "invalid_token"
        )
    assert stored(keyed_api) == before


def test_scheme_is_case_insensitive(keyed_api: ApiServer) -> None:
    r = httpx.get(f"{keyed_api.url}/datasets", headers={"Authorization": f"bearer {KEYS[1]}"})
    assert r.status_code == 200, r.text


def test_rejected_before_the_body_is_read(keyed_api: ApiServer) -> None:
    """An upload without a key is answered at once, with 10 MB of its body never sent."""
    before = stored(keyed_api)
    head = (
        "POST /upload HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{keyed_api.port}\r\n"
        "Content-Type: text/csv\r\n"
        "Content-Length: 10000000\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", keyed_api.port), timeout=10) as s:
        s.sendall(head + CSV)
        # A server that waited for the body would time out here instead. The headers and
        # the JSON body may arrive in separate segments: read until the body is whole.
        answer = s.recv(65536)
        while b"\r\n\r\n" in answer:
            headers, _, body = answer.partition(b"\r\n\r\n")
            length = re.search(rb"content-length: (\d+)", headers, re.IGNORECASE)
            if length is None or len(body) >= int(length.group(1)):
                break
            more = s.recv(65536)
            if not more:
                break
            answer += more
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b'"code":"unauthorized"' in answer
    assert stored(keyed_api) == before


def test_docs_with_a_key(keyed_api: ApiServer) -> None:
    with http(keyed_api, KEYS[2]) as c:
        assert c.get("/openapi.json").json()["info"]["title"] == "mini-pipeline"
        assert c.get("/docs").status_code == 200


def test_every_key_lists_and_uploads(keyed_api: ApiServer, tmp_path: Path) -> None:
    uploaded = []
    for key in KEYS:
        with http(keyed_api, key) as c:
            r = c.post("/upload", files={"file": ("cities.csv", CSV)})
            assert r.status_code == 202, r.text
            uploaded.append(r.json()["id"])
            listed = c.get("/datasets")
            assert listed.status_code == 200
            assert uploaded[-1] in {item["id"] for item in listed.json()["items"]}
    with http(keyed_api, KEYS[1]) as c:
        for ds_id in uploaded:
            assert wait_final(c, ds_id)["status"] == "ready"
        body = c.get(f"/datasets/{uploaded[0]}").json()
        assert body["total_rows"] == 2
    with http(keyed_api) as c:
        assert_unauthorized(c.get(f"/datasets/{uploaded[0]}"))


def test_keyed_upload_still_streams(keyed_api: ApiServer) -> None:
    """The key check passes the body through: a 128 MiB upload never sits in server memory."""
    assert keyed_api.proc is not None
    proc = psutil.Process(keyed_api.proc.pid)
    base = peak = proc.memory_info().rss
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.wait(0.02):
            peak = max(peak, proc.memory_info().rss)

    row = b"0123456789," * 9 + b"x\n"
    chunk = b"c" + b",c" * 9 + b"\n" + row * (1024 * 1024 // len(row))
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        with http(keyed_api, KEYS[0]) as c:
            r = c.post(
                "/upload",
                content=multipart_stream(chunk for _ in range(128)),
                headers={"Content-Type": MULTIPART_TYPE},
            )
    finally:
        done.set()
        sampler.join()
    assert r.status_code == 202, r.text
    assert r.json()["size_bytes"] == 128 * len(chunk)
    growth_mib = (peak - base) / 2**20
    assert growth_mib < 64, f"server RSS grew by {growth_mib:.0f} MiB"


def test_off_by_default(client: httpx.Client) -> None:
    """The embedded default (no MINI_API_KEYS): no header needed."""
    assert client.get("/datasets").status_code == 200
    assert client.get("/openapi.json").status_code == 200


def test_set_but_empty_refuses_to_start(tmp_path: Path) -> None:
    server = ApiServer(tmp_path / "api", {"MINI_API_KEYS": " , "})
    with pytest.raises(RuntimeError, match="MINI_API_KEYS is set but holds no keys"):
        server.start()
    server.stop()


def test_browser_page_load_redirects_to_login(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        r = c.get("/ui/datasets?x=1", headers={"Accept": "text/html"})
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=%2Fui%2Fdatasets%3Fx%3D1"
        page = c.get("/login")
        assert page.status_code == 200 and 'name="key"' in page.text
        # Assets the login page needs are not secret.
        assert c.get("/static/app.css").status_code == 200


def login_token(c: httpx.Client) -> str:
    """The sign-in form's CSRF token (its cookie is set on the client by the same answer)."""
    page = c.get("/login")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found, page.text
    return found.group(1)


def sign_in(c: httpx.Client, key: str, next: str = "/ui/datasets") -> httpx.Response:
    return c.post("/login", data={"key": key, "next": next, "csrf": login_token(c)})


def logout_token(c: httpx.Client) -> str:
    page = c.get("/ui/datasets")
    found = re.search(
        r'action="/logout"><input type="hidden" name="csrf" value="([^"]+)"', page.text
    )
    assert found, page.text
    return found.group(1)


def test_login_sets_a_signed_session_cookie_that_authenticates(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        bad = sign_in(c, "nope")
        assert bad.status_code == 401 and "not valid" in bad.text
        assert "mini_session" not in c.cookies
        r = sign_in(c, KEYS[1])
        assert r.status_code == 303 and r.headers["location"] == "/ui/datasets"
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        # Plain HTTP without MINI_TLS: not Secure (the browser would drop it).
        assert "secure" not in cookie
        session = c.cookies["mini_session"]
        # The cookie is a signed session, never the key.
        assert KEYS[1] not in session and all(k not in session for k in KEYS)
        assert session.startswith("v1.") and session.count(".") == 3
        assert c.get("/ui/datasets").status_code == 200
        upload = c.post("/upload", files={"file": ("c.csv", CSV)})
        assert upload.status_code == 202
        assert wait_final(c, upload.json()["id"])["status"] == "ready"
        out = c.post("/logout", data={"csrf": logout_token(c)})
        assert out.status_code == 303 and out.headers["location"] == "/login"
        c.cookies.clear()
        assert c.get("/datasets").status_code == 401


def test_the_raw_key_in_a_cookie_is_no_longer_accepted(keyed_api: ApiServer) -> None:
    for name in ("mini_api_key", "mini_session"):
        with httpx.Client(base_url=keyed_api.url, cookies={name: KEYS[0]}) as c:
            assert_unauthorized(c.get("/datasets"))


def test_logout_revokes_the_session_on_the_server(keyed_api: ApiServer) -> None:
    """A copy of the cookie kept by an attacker is dead once its owner signs out."""
    with http(keyed_api) as c:
        assert sign_in(c, KEYS[0]).status_code == 303
        stolen = c.cookies["mini_session"]
        token = logout_token(c)
        assert c.post("/logout", data={"csrf": token}).status_code == 303
    with httpx.Client(base_url=keyed_api.url, cookies={"mini_session": stolen}) as thief:
        r = thief.get("/datasets")
        assert_unauthorized(r)
        assert "signed out" in r.json()["error"]["message"]


def test_tampered_or_expired_sessions_are_refused(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        assert sign_in(c, KEYS[0]).status_code == 303
        version, sid, expires, mac = c.cookies["mini_session"].split(".")
    # A later expiry (or any changed byte) breaks the signature.
    for forged in (
        f"{version}.{sid}.{int(expires) + 86400}.{mac}",
        f"{version}.{sid[:-1]}A.{expires}.{mac}",
        f"{version}.{sid}.{expires}.{mac[:-2]}AA",
        f"{version}.{sid}.1.{mac}",
    ):
        with httpx.Client(base_url=keyed_api.url, cookies={"mini_session": forged}) as c:
            assert_unauthorized(c.get("/datasets"))


def test_login_without_the_form_token_is_refused(keyed_api: ApiServer) -> None:
    """CSRF: a cross-site form cannot sign a browser in (login CSRF) without the token
    that only this site's page and its SameSite=Strict cookie carry."""
    with http(keyed_api) as c:
        r = c.post("/login", data={"key": KEYS[0], "next": "/ui/datasets"})
        assert r.status_code == 403 and "mini_session" not in c.cookies
        token = login_token(c)
        c.cookies.delete("mini_csrf")
        r = c.post("/login", data={"key": KEYS[0], "csrf": token})
        assert r.status_code == 403 and "mini_session" not in c.cookies
        login_token(c)
        r = c.post("/login", data={"key": KEYS[0], "csrf": "x" * len(token)})
        assert r.status_code == 403 and "mini_session" not in c.cookies


def test_logout_needs_the_session_bound_token(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        assert sign_in(c, KEYS[0]).status_code == 303
        r = c.post("/logout")
        assert r.status_code == 403 and r.json()["error"]["code"] == "csrf_failed"
        r = c.post("/logout", data={"csrf": "forged"})
        assert r.status_code == 403
        # Still signed in.
        assert c.get("/datasets").status_code == 200


def test_cross_origin_writes_with_the_session_are_refused(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        assert sign_in(c, KEYS[0]).status_code == 303
        before = stored(keyed_api)
        r = c.post(
            "/upload",
            files={"file": ("c.csv", CSV)},
            headers={"Origin": "https://evil.example"},
        )
        assert r.status_code == 401
        assert stored(keyed_api) == before
        same = c.post(
            "/upload",
            files={"file": ("c.csv", CSV)},
            headers={"Origin": keyed_api.url},
        )
        assert same.status_code == 202, same.text


def test_sessions_expire(tmp_path: Path) -> None:
    env = {"MINI_API_KEYS": KEYS[0], "MINI_SESSION_HOURS": str(2 / 3600)}
    with ApiServer(tmp_path / "api", env) as server, http(server) as c:
        assert sign_in(c, KEYS[0]).status_code == 303
        assert c.get("/datasets").status_code == 200
        time.sleep(2.5)
        r = c.get("/datasets")
        assert_unauthorized(r)


def test_tls_setting_makes_cookies_secure_and_sends_hsts(tmp_path: Path) -> None:
    env = {"MINI_API_KEYS": KEYS[0], "MINI_TLS": "true"}
    with ApiServer(tmp_path / "api", env) as server, http(server) as c:
        page = c.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token
        # httpx keeps Secure cookies for https only: send the form's cookie by hand.
        r = c.post(
            "/login",
            data={"key": KEYS[0], "csrf": token.group(1)},
            headers={"Cookie": f"mini_csrf={token.group(1)}"},
        )
        assert r.status_code == 303
        assert "; secure" in r.headers["set-cookie"].lower()
        assert c.get("/healthz").headers["strict-transport-security"]


def test_login_never_redirects_off_site(keyed_api: ApiServer) -> None:
    with http(keyed_api) as c:
        for target in (
            "https://evil.example/",
            "//evil.example/x",
            "javascript:alert(1)",
            "/\\evil.example",
        ):
            r = sign_in(c, KEYS[0], target)
            assert r.headers["location"] == "/ui/datasets"


def test_forged_cookie_is_refused(keyed_api: ApiServer) -> None:
    with httpx.Client(base_url=keyed_api.url, cookies={"mini_api_key": "forged"}) as c:
        assert_unauthorized(c.get("/datasets"))


def test_logout_on_one_replica_is_refused_by_another(tmp_path: Path) -> None:
    """Two replicas on one catalog (the same MINI_API_KEYS): a cookie signed out on the
    first stops working on the second too, within REVOCATION_RECHECK_SECONDS."""
    from api.sessions import REVOCATION_RECHECK_SECONDS

    env = {"MINI_API_KEYS": KEYS[0]}
    data = tmp_path / "shared"
    with ApiServer(data, env) as first, ApiServer(data, env) as second:
        with http(first) as c:
            assert sign_in(c, KEYS[0]).status_code == 303
            cookie = c.cookies["mini_session"]
            token = logout_token(c)
        with httpx.Client(base_url=second.url, cookies={"mini_session": cookie}) as other:
            # Valid on the second replica, which has now seen it "not revoked".
            assert other.get("/datasets").status_code == 200
            with httpx.Client(base_url=first.url, cookies={"mini_session": cookie}) as c:
                assert c.post("/logout", data={"csrf": token}).status_code == 303
            deadline = time.monotonic() + REVOCATION_RECHECK_SECONDS + 5
            while other.get("/datasets").status_code == 200:
                assert time.monotonic() < deadline, "the second replica still accepts it"
                time.sleep(0.2)
            r = other.get("/datasets")
            assert_unauthorized(r)
            assert "signed out" in r.json()["error"]["message"]
