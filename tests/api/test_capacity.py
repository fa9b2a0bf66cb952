"""Capacity that slow clients cannot exhaust, over real sockets against the real API.

Every loop here is bounded in count and in time, and talks to loopback only.
"""

from __future__ import annotations

import contextlib
import select
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import catalog_of, local_objects, version_count
from tests.servers.api import ApiServer

SLOW_CLIENTS = 50
HELD = 45  # more than the 40 worker threads reads use: they must not be shared
TRICKLE = b"a,b\n"  # 4 bytes every half second: 8 bytes/s
TRICKLE_EVERY_S = 0.5
CLIENT_DEADLINE_S = 30.0

ENV = {
    "MINI_MAX_CONCURRENT_UPLOADS": str(HELD),
    "MINI_UPLOAD_IDLE_TIMEOUT_SECONDS": "4",
    "MINI_UPLOAD_MIN_BYTES_PER_SECOND": "200",
    "MINI_UPLOAD_MIN_RATE_WINDOW_SECONDS": "8",
}


@dataclass
class SlowClient:
    port: int
    send: bool = True
    status: int | None = None
    answer: bytes = b""
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    def run(self) -> None:
        head = (
            "POST /upload HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{self.port}\r\n"
            "Content-Type: text/csv\r\n"
            "Content-Length: 1000000\r\n\r\n"
        ).encode()
        deadline = time.monotonic() + CLIENT_DEADLINE_S
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(head)
            while time.monotonic() < deadline:
                ready, _, _ = select.select([s], [], [], TRICKLE_EVERY_S)
                if ready:
                    self.answer = read_answer(s)
                    break
                if self.send:
                    try:
                        s.sendall(TRICKLE)
                    except OSError:
                        self.answer = read_answer(s)
                        break
        self.finished = time.monotonic()
        if self.answer.startswith(b"HTTP/1.1 "):
            self.status = int(self.answer[9:12])


def read_answer(s: socket.socket) -> bytes:
    s.settimeout(5)
    data = b""
    try:
        while chunk := s.recv(65536):
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep and b"content-length:" in head.lower():
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                if len(body) >= length:
                    break
    except OSError:
        pass
    return data


def header(answer: bytes, name: str) -> str | None:
    for line in answer.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.encode():
            return value.strip().decode()
    return None


def nothing_stored(server: ApiServer) -> None:
    assert local_objects(server) == []
    tmp = server.data_dir / "objects" / ".tmp"
    assert not tmp.exists() or list(tmp.iterdir()) == []
    catalog = catalog_of(server)
    try:
        assert version_count(catalog) == 0
    finally:
        catalog.engine.dispose()


@pytest.fixture(scope="module")
def capped_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(tmp_path_factory.mktemp("api-capacity"), ENV) as server:
        yield server


def test_slow_uploads_cannot_starve_reads(capped_api: ApiServer) -> None:
    """50 clients trickling 8 bytes/s: 45 are held (more than the 40 threads reads use),
    5 are refused with 503 + Retry-After at once; reads stay fast all along; the held
    ones are aborted with 408 once their average rate is measured; nothing is stored."""
    clients = [SlowClient(capped_api.port) for _ in range(SLOW_CLIENTS)]
    threads = [threading.Thread(target=c.run, daemon=True) for c in clients]
    for t in threads:
        t.start()
        time.sleep(0.01)
    time.sleep(1.0)
    refused_early = [c for c in clients if c.status == 503]
    assert len(refused_early) == SLOW_CLIENTS - HELD, [c.status for c in clients]
    for c in refused_early:
        assert header(c.answer, "retry-after") == "5"
        assert b'"code":"service_unavailable"' in c.answer
        assert b"MINI_MAX_CONCURRENT_UPLOADS" in c.answer

    # While 45 uploads are held: every read answers, fast.
    timings = []
    with httpx.Client(base_url=capped_api.url, timeout=5) as http:
        for _ in range(20):
            for path in ("/datasets", "/readyz", "/datasets/nope/status"):
                start = time.monotonic()
                r = http.get(path)
                timings.append(time.monotonic() - start)
                assert r.status_code in (200, 404), (path, r.text)
            time.sleep(0.1)
        assert all(c.status is None for c in clients if c not in refused_early)
    print(
        f"\nreads with {HELD} slow uploads held: n={len(timings)} "
        f"median {statistics.median(timings) * 1000:.1f} ms, max {max(timings) * 1000:.1f} ms"
    )
    assert max(timings) < 1.0

    for t in threads:
        t.join(timeout=CLIENT_DEADLINE_S + 10)
    held = [c for c in clients if c not in refused_early]
    assert [c.status for c in held] == [408] * HELD, [c.answer[:200] for c in held]
    for c in held:
        assert b"MINI_UPLOAD_MIN_BYTES_PER_SECOND" in c.answer
        assert c.finished is not None and c.finished - c.started < 15
    nothing_stored(capped_api)
    # The slots are free again.
    ok = httpx.post(
        f"{capped_api.url}/upload", content=b"a,b\n1,2\n", headers={"Content-Type": "text/csv"}
    )
    assert ok.status_code == 202, ok.text


def test_a_stalled_body_is_aborted_with_408(capped_api: ApiServer) -> None:
    before = local_objects(capped_api)
    client = SlowClient(capped_api.port, send=False)
    client.run()
    assert client.status == 408, client.answer
    assert b"MINI_UPLOAD_IDLE_TIMEOUT_SECONDS" in client.answer
    assert client.finished is not None and 3.5 < client.finished - client.started < 10
    assert local_objects(capped_api) == before
    tmp = capped_api.data_dir / "objects" / ".tmp"
    assert list(tmp.iterdir()) == []


def test_sigterm_during_an_upload_exits_within_the_grace_period(tmp_path: Path) -> None:
    """An upload still streaming when SIGTERM comes is cancelled after the grace period,
    its temp file removed; the process is gone within a few seconds; nothing recorded."""
    env = {"MINI_SHUTDOWN_GRACE_SECONDS": "2", "MINI_UPLOAD_MIN_BYTES_PER_SECOND": "0"}
    server = ApiServer(tmp_path / "api", env).start()
    try:
        head = (
            "POST /upload HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\n"
            "Content-Type: text/csv\r\n"
            "Content-Length: 100000000\r\n\r\n"
            "a,b\n"
        ).encode()
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as s:
            s.sendall(head)
            sent_until = time.monotonic() + 1.5
            while time.monotonic() < sent_until:
                s.sendall(b"1,2\n" * 4096)
                time.sleep(0.05)
            tmp = server.data_dir / "objects" / ".tmp"
            assert len(list(tmp.iterdir())) == 1  # the upload's part is being written
            assert server.proc is not None
            server.proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            # Keep sending, as a client that does not know would.
            while server.proc.poll() is None and time.monotonic() - signalled < 20:
                with contextlib.suppress(OSError):
                    s.sendall(b"1,2\n" * 1024)
                time.sleep(0.05)
            took = time.monotonic() - signalled
        assert server.proc.poll() is not None, "the API did not exit"
        print(f"\nSIGTERM during an upload: exited after {took:.2f} s (grace 2 s)")
        assert took < 8
        nothing_stored(server)
    finally:
        server.kill()
