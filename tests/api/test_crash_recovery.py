"""kill -9 of the API on the embedded default, mid-upload and mid-processing, several
cycles: after each restart no temp part is left, no processor outlived its API, every
acknowledged upload ends ready with its rows (or failed with a message), and nothing
ran twice at once."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

import httpx
import psutil

from tests.api.conftest import catalog_of
from tests.servers.api import ApiServer, wait_final

ROWS = 600_000  # a few seconds of processing: longer than the checks below wait


def _big_csv(rows: int) -> bytes:
    return ("id,label,amount\n" + "".join(f"{i},row {i},{i * 0.5}\n" for i in range(rows))).encode()


def _temp_parts(server: ApiServer) -> list[Path]:
    tmp = server.data_dir / "objects" / ".tmp"
    return sorted(tmp.iterdir()) if tmp.is_dir() else []


def _processors(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline", "environ"]):
        cmd = proc.info["cmdline"] or []
        env = proc.info["environ"] or {}
        if not _alive(proc):
            continue
        if "processor" in cmd and "run" in cmd and env.get("MINI_DATA_DIR") == str(data_dir):
            found.append(proc)
    return found


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _half_upload(server: ApiServer, body: bytes) -> socket.socket:
    """A raw upload that has sent half its body, left open."""
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    head = (
        "POST /upload?name=crash HTTP/1.1\r\nHost: x\r\nContent-Type: text/csv\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock.sendall(head + body[: len(body) // 2])
    return sock


def _wait_for(predicate: object, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)
    raise TimeoutError("condition not met")


def test_kill_9_mid_upload_and_mid_processing(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = ApiServer(data_dir, env={"MINI_RUNNER__MAX_PARALLEL": "1"}).start()
    acknowledged: list[tuple[str, int]] = []
    body = _big_csv(ROWS)
    try:
        for cycle in range(3):
            # An upload in flight when the API dies: its temp part is left on disk.
            sock = _half_upload(server, body)
            _wait_for(lambda s=server: bool(_temp_parts(s)))
            # And one acknowledged upload whose processing is under way.
            with httpx.Client(base_url=server.url, timeout=60) as client:
                r = client.post(
                    f"/upload?name=cycle{cycle}",
                    content=body,
                    headers={"Content-Type": "text/csv"},
                )
                assert r.status_code == 202, r.text
                acknowledged.append((r.json()["id"], ROWS))
                _wait_for(lambda: bool(_processors(data_dir)))
            running = _processors(data_dir)
            server.kill()  # SIGKILL: no shutdown code runs
            sock.close()
            # The processor dies with its API at once, instead of running on unowned.
            _wait_for(lambda r=running: not any(_alive(p) for p in r), timeout=1.5)
            assert _temp_parts(server), "the dead upload should have left a part behind"
            server = ApiServer(data_dir, env={"MINI_RUNNER__MAX_PARALLEL": "1"})
            server.start()
            assert _temp_parts(server) == [], "the restart removes dead writers' parts"
            # Nothing ran twice at once while the restarted API resumed the work.
            assert len(_processors(data_dir)) <= 1
        with httpx.Client(base_url=server.url, timeout=60) as client:
            for dataset_id, rows in acknowledged:
                status = wait_final(client, dataset_id, timeout=300)
                assert status["status"] == "ready", status
                assert status["rows_out"] == rows
            # The half-sent uploads were never recorded.
            names = {i["name"] for i in client.get("/datasets?limit=1000").json()["items"]}
            assert "crash" not in names
            raw = data_dir / "objects" / "raw"
            stored = {p.name for p in raw.iterdir()} if raw.is_dir() else set()
            assert stored == {d for d, _ in acknowledged}
    finally:
        server.stop()
    assert os.path.isdir(data_dir)


CSV = {"Content-Type": "text/csv"}


def _running_for(data_dir: Path, dataset_id: str) -> int:
    return sum(
        1
        for p in _processors(data_dir)
        if _alive(p) and dataset_id in " ".join(p.info["cmdline"] or [])
    )


def test_a_second_api_on_the_same_data_never_runs_a_claimed_version_again(
    tmp_path: Path,
) -> None:
    """Two API processes on one data directory: the second one's start does not run
    what the first one's runner has claimed; when the first is killed, the second
    takes its work over (its runner is gone: the claim is an orphan) and finishes it."""
    data_dir = tmp_path / "shared"
    env = {"MINI_RUNNER__MAX_PARALLEL": "1"}
    first = ApiServer(data_dir, env=env).start()
    second: ApiServer | None = None
    rows = 4 * ROWS  # processing outlasts the second API's start
    body = _big_csv(rows)
    try:
        with httpx.Client(base_url=first.url, timeout=60) as client:
            r = client.post(
                "/upload?name=shared", content=body, headers={"Content-Type": "text/csv"}
            )
            one = r.json()["id"]
            _wait_for(lambda: _running_for(data_dir, one) == 1)
        second = ApiServer(data_dir, env=env).start()
        most = 0
        with httpx.Client(base_url=second.url, timeout=60) as client:
            deadline = time.monotonic() + 300
            while client.get(f"/datasets/{one}/status").json()["status"] not in ("ready", "failed"):
                most = max(most, _running_for(data_dir, one))
                assert time.monotonic() < deadline
                time.sleep(0.05)
            assert most <= 1, "the same version ran twice at once"
            assert wait_final(client, one)["rows_out"] == rows
        processed = catalog_of(second).get(one)
        assert processed is not None and processed.attempts == 1
        # The first API dies mid-processing: the second takes over its claim.
        with httpx.Client(base_url=first.url, timeout=60) as client:
            r = client.post(
                "/upload?name=shared", content=body, headers={"Content-Type": "text/csv"}
            )
            two = r.json()["id"]
            _wait_for(lambda: _running_for(data_dir, two) == 1)
        first.kill()
        with httpx.Client(base_url=second.url, timeout=60) as client:
            status = wait_final(client, two, timeout=300)
            assert status["status"] == "ready" and status["rows_out"] == rows
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_which_claims_are_orphans() -> None:
    from datetime import UTC, datetime, timedelta

    from api.runners.local import orphaned
    from core.catalog import CLAIM_STALE_SECONDS

    fresh = datetime.now(UTC)
    stale = fresh - timedelta(seconds=CLAIM_STALE_SECONDS + 5)
    host = socket.gethostname()
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert orphaned(None, None)  # from before claims: no heartbeat at all
    assert not orphaned(None, fresh)  # no owner named: its heartbeat decides
    assert orphaned(None, stale)
    assert not orphaned(f"local:{host}:{os.getpid()}:x", stale)  # this very process
    assert orphaned(f"local:{host}:{gone.pid}:x", fresh)  # dead on this host: at once
    assert not orphaned("local:elsewhere:1:x", fresh)
    assert orphaned("local:elsewhere:1:x", stale)
    assert not orphaned("kubernetes:ns/job", fresh)
