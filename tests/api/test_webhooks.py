"""Webhooks against the live API: a local receiver (127.0.0.1, allowed by the test's
settings) gets signed POSTs for ready and failed versions, retries back off, a receiver
that hangs is cut at the timeout and never slows processing, versions recorded behind
the API's back are caught up; the address policy refuses private addresses."""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import itertools
import json
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.webhooks.addresses import AddressPolicy, RefusedURL, forbidden
from api.webhooks.deliverer import Deliverer, backoff, sign
from core.catalog import Catalog, SqlCatalog, new_dataset_id
from core.settings import WebhookSettings
from tests.api.conftest import catalog_of
from tests.servers.api import ApiServer, wait_final

SECRET = "test-webhook-secret"
TIMEOUT = 1.5
BACKOFF = 0.5
BACKOFF_MAX = 1.0
MAX_ATTEMPTS = 4
GOOD_CSV = b"id,city,amount\n1,Oslo,120.5\n2,Bergen,80\n"
# Every data row has too many fields: beyond the reject budget, so the version fails.
BAD_CSV = b"a,b\n1,2,3,4\n5,6,7,8\n"


def verify(secret: bytes, headers: dict[str, str], body: bytes, tolerance: float = 300) -> bool:
    """What a receiver does (the README's snippet): recompute, compare in constant time,
    refuse old timestamps (a replayed request)."""
    timestamp = headers["x-mini-timestamp"]
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret, signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= tolerance
    return fresh and hmac.compare_digest(expected, headers["x-mini-signature"])


@dataclass
class Call:
    at: float
    headers: dict[str, str]
    body: bytes

    def json(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1: answers `answers` in turn, then 200; with
    `hang`, never answers until the test ends."""

    answers: list[int] = field(default_factory=list)
    hang: bool = False
    # (certificate, key): answer HTTPS, noting the server names clients ask for (SNI).
    tls: tuple[Path, Path] | None = None
    calls: list[Call] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)
    server_names: list[str | None] = field(default_factory=list)

    def __post_init__(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.calls.append(Call(time.monotonic(), headers, body))
                if receiver.hang:
                    receiver.released.wait(60)
                    return
                status = receiver.answers.pop(0) if receiver.answers else 200
                self.send_response(status)
                self.send_header("Content-Length", "7")
                self.end_headers()
                self.wfile.write(b"nope :(" if status >= 300 else b"thanks!")

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            context.sni_callback = lambda _s, name, _c: self.server_names.append(name)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def wait_calls(self, count: int, timeout: float = 60) -> list[Call]:
        deadline = time.monotonic() + timeout
        while len(self.calls) < count:
            assert time.monotonic() < deadline, f"{len(self.calls)} of {count} calls"
            time.sleep(0.05)
        return self.calls

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.close()


@pytest.fixture(scope="module")
def hooked_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    env = {
        "MINI_WEBHOOKS__SECRET": SECRET,
        "MINI_WEBHOOKS__ALLOW_PRIVATE": "true",
        "MINI_WEBHOOKS__TIMEOUT_SECONDS": str(TIMEOUT),
        "MINI_WEBHOOKS__BACKOFF_SECONDS": str(BACKOFF),
        "MINI_WEBHOOKS__BACKOFF_MAX_SECONDS": str(BACKOFF_MAX),
        "MINI_WEBHOOKS__MAX_ATTEMPTS": str(MAX_ATTEMPTS),
        "MINI_WEBHOOKS__POLL_SECONDS": "0.2",
        "MINI_WEBHOOKS__CATCH_UP_SECONDS": "0.5",
        "MINI_WEBHOOKS__PUBLIC_URL": "https://data.example.com",
        "MINI_RUNNER__MAX_PARALLEL": "2",
    }
    with ApiServer(tmp_path_factory.mktemp("api-webhooks"), env) as server:
        yield server


@pytest.fixture
def client(hooked_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hooked_api.url, timeout=60) as c:
        yield c


def upload(client: httpx.Client, name: str, body: bytes) -> dict[str, Any]:
    r = client.post("/upload", params={"name": name}, files={"file": ("f.csv", body)})
    assert r.status_code == 202, r.text
    created: dict[str, Any] = r.json()
    return created


def hook(client: httpx.Client, name: str, *urls: str) -> dict[str, Any]:
    r = client.put(f"/datasets/{name}/webhooks", json={"urls": list(urls)})
    assert r.status_code == 200, r.text
    config: dict[str, Any] = r.json()
    return config


def deliveries(client: httpx.Client, ref: str, **params: Any) -> list[dict[str, Any]]:
    r = client.get(f"/datasets/{ref}/webhooks/deliveries", params=params)
    assert r.status_code == 200, r.text
    items: list[dict[str, Any]] = r.json()["items"]
    return items


def wait_log(
    client: httpx.Client, ref: str, done: Any, timeout: float = 60
) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while True:
        items = deliveries(client, ref)
        if done(items):
            return items
        assert time.monotonic() < deadline, items
        time.sleep(0.1)


def test_ready_and_failed_versions_are_posted_signed(
    client: httpx.Client, receiver: Receiver
) -> None:
    # Configured before the first upload, so version 1 is told too.
    config = hook(client, "hooked", receiver.url)
    assert config["urls"] == [receiver.url] and config["sending"] is True
    assert client.get("/datasets/hooked/webhooks").json()["urls"] == [receiver.url]
    ready = upload(client, "hooked", GOOD_CSV)
    assert wait_final(client, ready["id"])["status"] == "ready"
    failed = upload(client, "hooked", BAD_CSV)
    assert wait_final(client, failed["id"])["status"] == "failed"

    first, second = receiver.wait_calls(2)
    for call in (first, second):
        assert verify(SECRET.encode(), call.headers, call.body)
        # Signed with another secret, or a body changed on the way: refused.
        assert not verify(b"another secret", call.headers, call.body)
        assert not verify(SECRET.encode(), call.headers, call.body.replace(b"hooked", b"hacked"))
        assert call.headers["content-type"] == "application/json"
        assert call.headers["host"] == receiver.url.split("/")[2]
    by_status = {c.json()["status"]: c for c in (first, second)}
    ok, bad = by_status["ready"].json(), by_status["failed"].json()
    assert by_status["ready"].headers["x-mini-event"] == "version.ready"
    assert ok["event"] == "version.ready"
    assert (ok["dataset"], ok["version"], ok["version_id"]) == ("hooked", 1, ready["id"])
    assert (ok["rows"], ok["rows_in"], ok["rows_rejected"], ok["error"]) == (2, 2, 0, None)
    assert "schema_diff" in ok and ok["finished_at"]
    assert ok["links"]["self"] == f"https://data.example.com/datasets/{ready['id']}"
    assert ok["links"]["dataset"] == "https://data.example.com/datasets/hooked"
    assert (bad["event"], bad["version"], bad["version_id"]) == ("version.failed", 2, failed["id"])
    assert bad["error"] and bad["rows"] is None
    assert str(ok["delivery_id"]) == by_status["ready"].headers["x-mini-delivery"]

    log = wait_log(client, "hooked", lambda items: all(i["state"] == "delivered" for i in items))
    assert [(i["version"], i["event"], i["attempts"], i["last_status"]) for i in log] == [
        (2, "version.failed", 1, 200),
        (1, "version.ready", 1, 200),
    ]
    # A version's own URL (and ?version=N) lists that version's deliveries only.
    assert [i["version"] for i in deliveries(client, ready["id"])] == [1]
    assert [i["version"] for i in deliveries(client, "hooked", version=2)] == [2]


def test_a_failing_receiver_is_retried_with_backoff(client: httpx.Client) -> None:
    receiver = Receiver(answers=[500, 500])
    try:
        hook(client, "flaky", receiver.url)
        ready = upload(client, "flaky", GOOD_CSV)
        assert wait_final(client, ready["id"])["status"] == "ready"
        calls = receiver.wait_calls(3)
        [entry] = wait_log(client, "flaky", lambda items: items[0]["state"] == "delivered")
    finally:
        receiver.close()
    assert (entry["attempts"], entry["last_status"], entry["last_error"]) == (3, 200, None)
    gaps = [b.at - a.at for a, b in itertools.pairwise(calls)]
    # Doubling from BACKOFF, capped at BACKOFF_MAX (and at most 10% jitter, a poll late).
    assert BACKOFF <= gaps[0] < BACKOFF * 1.1 + 1.0, gaps
    assert BACKOFF_MAX <= gaps[1] < BACKOFF_MAX * 1.1 + 1.0, gaps
    # Every attempt is signed afresh, with the same body.
    assert len({c.body for c in calls}) == 1
    assert all(verify(SECRET.encode(), c.headers, c.body) for c in calls)


def test_a_hanging_receiver_is_cut_at_the_timeout_and_never_slows_processing(
    client: httpx.Client,
) -> None:
    receiver = Receiver(hang=True)
    try:
        hook(client, "stuck", receiver.url)
        first = upload(client, "stuck", GOOD_CSV)
        assert wait_final(client, first["id"])["status"] == "ready"
        [call] = receiver.wait_calls(1)
        # While the receiver holds the first delivery, the next version processes.
        started = time.monotonic()
        second = upload(client, "stuck", GOOD_CSV)
        assert wait_final(client, second["id"])["status"] == "ready"
        assert time.monotonic() - started < 30
        log = wait_log(
            client,
            first["id"],
            lambda items: items and items[0]["attempts"] >= 1,
            timeout=TIMEOUT + 10,
        )
        cut_after = time.monotonic() - call.at
        assert "timed out" in (log[0]["last_error"] or ""), log
        assert log[0]["last_status"] is None
        # One attempt lasts about the timeout, not until the receiver gives up.
        assert cut_after < TIMEOUT + 3, cut_after
        # Then retried until MINI_WEBHOOKS__MAX_ATTEMPTS, and failed in the log.
        [entry] = wait_log(
            client,
            first["id"],
            lambda items: items[0]["state"] == "failed",
            timeout=MAX_ATTEMPTS * (TIMEOUT + BACKOFF_MAX * 1.1 + 1) + 10,
        )
    finally:
        receiver.close()
    assert entry["attempts"] == MAX_ATTEMPTS and entry["next_attempt_at"] is None


def test_versions_recorded_behind_the_api_are_caught_up(
    client: httpx.Client, hooked_api: ApiServer, receiver: Receiver
) -> None:
    """Like the reconciler, or a runner while this API was down: the catalog says final
    but no listener of this process heard it."""
    hook(client, "behind", receiver.url)
    catalog = catalog_of(hooked_api)
    try:
        ds_id = finish_version(catalog, "behind")
    finally:
        catalog.close()
    [call] = receiver.wait_calls(1, timeout=20)
    body = call.json()
    assert (body["version_id"], body["status"], body["rows"]) == (ds_id, "ready", 4)
    assert verify(SECRET.encode(), call.headers, call.body)


def test_a_dataset_hooked_after_its_versions_finished_hears_nothing_of_them(
    client: httpx.Client, receiver: Receiver
) -> None:
    old = upload(client, "history", GOOD_CSV)
    assert wait_final(client, old["id"])["status"] == "ready"
    hook(client, "history", receiver.url)
    time.sleep(1.5)  # three catch-up rounds
    assert receiver.calls == []
    assert deliveries(client, "history") == []


def finish_version(catalog: Catalog, name: str) -> str:
    """A version made final straight in the catalog, as the reconciler records one."""
    ds_id = new_dataset_id()
    catalog.add(
        dataset_id=ds_id,
        filename="r.csv",
        raw_key=f"{ds_id}/source.csv",
        sha256="0" * 64,
        size_bytes=1,
        name=name,
    )
    assert catalog.mark_processing(ds_id, owner="reconciler:test")
    assert catalog.mark_ready(ds_id, rows_in=5, rows_out=4, rows_rejected=1)
    return ds_id


class NamesOnLoopback(AddressPolicy):
    """*.test names resolve to 127.0.0.1, as a name of a receiver would to its address."""

    def resolve(self, host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        if host.endswith(".test"):
            return [ipaddress.ip_address("127.0.0.1")]
        return super().resolve(host, port)


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    request = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=hooks.test", "-addext", "subjectAltName=DNS:hooks.test"]
    subprocess.run(
        ["openssl", *request, "-keyout", str(key), "-out", str(cert), *subject],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_goes_to_the_checked_address_under_the_name(
    tmp_path: Path, tls_cert: tuple[Path, Path]
) -> None:
    """The connection goes to the address the policy checked, yet TLS asks for the
    name (SNI), verifies the certificate against it, and Host carries it."""
    receiver = Receiver(tls=tls_cert)
    catalog = SqlCatalog.from_url(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    catalog.create_schema()
    good, wrong = (f"https://{n}.test:{receiver.port}/hook" for n in ("hooks", "other"))
    settings = WebhookSettings.model_validate(
        {
            "secret": SECRET,
            "allow_private": True,
            "ca_file": tls_cert[0],
            "max_attempts": 1,
            "poll_seconds": 0.1,
            "timeout_seconds": 5,
        }
    )
    deliverer = Deliverer(settings, catalog, NamesOnLoopback(allow_private=True))
    try:
        catalog.set_webhooks("secure", [good, wrong])
        ds_id = finish_version(catalog, "secure")
        deliverer.start()
        deliverer.listener(ds_id, {})
        deadline = time.monotonic() + 30
        while any(d.state.value == "pending" for d in catalog.deliveries(name="secure")[0]):
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        deliverer.stop()
        deliverer.policy.close()
        receiver.close()
        catalog.close()
    by_url = {d.url: d for d in catalog.deliveries(name="secure")[0]}
    assert by_url[good].state.value == "delivered", by_url[good]
    # A certificate for hooks.test does not pass for other.test, at the same address.
    assert by_url[wrong].state.value == "failed"
    assert "certificate" in (by_url[wrong].last_error or "").lower(), by_url[wrong]
    assert sorted(n or "" for n in receiver.server_names) == ["hooks.test", "other.test"]
    [call] = receiver.calls
    assert call.headers["host"] == f"hooks.test:{receiver.port}"
    assert verify(SECRET.encode(), call.headers, call.body)


# --- the address policy ------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",
        "http://127.1.2.3:8080/hook",
        "http://10.0.0.5/hook",
        "http://192.168.1.1/hook",
        "http://172.16.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:a9fe:a9fe]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://[fe80::1]/hook",
        "http://[fd00::1]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://100.64.0.1/hook",
        "http://localhost/hook",
        "http://localhost./hook",
    ],
)
def test_private_addresses_are_refused(url: str) -> None:
    policy = AddressPolicy(allow_private=False)
    try:
        with pytest.raises(RefusedURL, match="address; webhooks reach only public"):
            policy.check(url)
    finally:
        policy.close()


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.216.34/hook",
        "file:///etc/passwd",
        "http://user:pw@93.184.216.34/hook",
        "http:///hook",
        "http://93.184.216.34:99999/hook",
        "http://93.184.216.34/hook#frag",
        "http://93.184.216.34/ho ok",
        "http://" + "a" * 2100 + ".example.com/",
        "http://no-such-host.invalid/hook",
    ],
)
def test_malformed_urls_are_refused(url: str) -> None:
    policy = AddressPolicy(allow_private=True)
    try:
        with pytest.raises(RefusedURL):
            policy.check(url)
    finally:
        policy.close()


def test_public_addresses_pass_and_allow_private_lifts_the_policy() -> None:
    strict, lax = AddressPolicy(allow_private=False), AddressPolicy(allow_private=True)
    try:
        endpoint = strict.check("https://93.184.216.34:8443/hook?x=1")
        assert endpoint.connect_url() == "https://93.184.216.34:8443/hook?x=1"
        assert endpoint.host_header() == "93.184.216.34:8443"
        v6 = strict.check("http://[2606:4700:4700::1111]/h")
        assert v6.connect_url() == "http://[2606:4700:4700::1111]:80/h"
        local = lax.check("http://localhost:9/hook")
        assert local.address == ipaddress.ip_address("127.0.0.1")
        assert local.connect_url() == "http://127.0.0.1:9/hook"
        assert local.host_header() == "localhost:9"
    finally:
        strict.close()
        lax.close()
    assert forbidden(ipaddress.ip_address("8.8.8.8")) is None
    assert forbidden(ipaddress.ip_address("::ffff:10.1.2.3")) == "private"


def test_signature_and_backoff() -> None:
    body = b'{"a":1}'
    signature = sign(b"k", "1700000000", body)
    assert signature == "sha256=" + hmac.new(b"k", b"1700000000." + body, "sha256").hexdigest()
    assert [backoff(n, 30, 3600) for n in (1, 2, 3, 8, 20)] == [30, 60, 120, 3600, 3600]


@pytest.fixture(scope="module")
def strict_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The defaults: private addresses refused, and no secret (nothing is sent)."""
    with ApiServer(tmp_path_factory.mktemp("api-webhooks-strict")) as server:
        yield server


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/hook",
        "http://10.1.2.3/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://localhost/hook",
        "gopher://93.184.216.34/",
    ],
)
def test_the_api_refuses_private_urls_with_422(strict_api: ApiServer, url: str) -> None:
    with httpx.Client(base_url=strict_api.url, timeout=30) as c:
        r = c.put("/datasets/guarded/webhooks", json={"urls": ["https://93.184.216.34/", url]})
        assert r.status_code == 422, r.text
        assert r.headers["content-type"] == "application/json"
        assert r.json()["error"]["code"] == "unprocessable"
        assert url in r.json()["error"]["message"]
        # Nothing was stored: the configuration is all or nothing.
        assert c.get("/datasets/guarded/webhooks").status_code == 404


def test_the_api_stores_public_urls_and_says_nothing_is_sent_without_a_secret(
    strict_api: ApiServer, tmp_path: Path
) -> None:
    with httpx.Client(base_url=strict_api.url, timeout=30) as c:
        r = c.put("/datasets/public/webhooks", json={"urls": ["https://93.184.216.34/h"]})
        assert r.status_code == 200, r.text
        assert r.json()["sending"] is False and r.json()["global_urls"] == 0
        assert c.get("/datasets/public/webhooks").json()["urls"] == ["https://93.184.216.34/h"]
        too_many = {"urls": [f"https://93.184.216.34/{i}" for i in range(11)]}
        assert c.put("/datasets/public/webhooks", json=too_many).status_code == 422
        assert c.put("/datasets/public/webhooks", json={"urls": "x"}).status_code == 422
        assert c.get("/datasets/nothing-here/webhooks/deliveries").status_code == 404
        assert c.get("/datasets/nothing-here/webhooks").status_code == 404
        assert c.put("/datasets/public/webhooks", json={"urls": []}).json()["urls"] == []
