"""The local runner's fork server (processor/zygote.py) on a live API: one forked
process per dataset, the exit-code contract kept, a crash confined to its dataset,
the server replaced when it dies, and everything gone when the API dies."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from tests.servers.api import ApiServer, wait_final

CSV = {"Content-Type": "text/csv"}
TINY = b"id,name,amount,day\n1,a,1.5,2024-01-01\n2,b,2.5,2024-01-02\n3,c,3.5,2024-01-03\n"
ROWS = 600_000  # seconds of processing: long enough to catch its process at work


def _big_csv(rows: int) -> bytes:
    return ("id,label,amount\n" + "".join(f"{i},row {i},{i * 0.5}\n" for i in range(rows))).encode()


def _ours(data_dir: Path, proc: psutil.Process) -> bool:
    try:
        env = proc.environ()
        return env.get("MINI_DATA_DIR") == str(data_dir) and proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def _fork_servers(data_dir: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        if "processor.zygote" in (proc.info["cmdline"] or []) and _ours(data_dir, proc):
            found.append(proc)
    return found


def _processors(data_dir: Path, dataset_id: str | None = None) -> list[psutil.Process]:
    """Processes titled `python -m processor run --dataset-id ID` of this API."""
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmd = proc.info["cmdline"] or []
        wanted = dataset_id is None or dataset_id in cmd
        if "processor" in cmd and "run" in cmd and wanted and _ours(data_dir, proc):
            found.append(proc)
    return found


def _wait_for(predicate: Callable[[], object], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError("condition not met")


def _upload(client: httpx.Client, body: bytes, name: str) -> str:
    r = client.post(f"/upload?name={name}", content=body, headers=CSV)
    assert r.status_code == 202, r.text
    dataset_id: str = r.json()["id"]
    return dataset_id


def _server(tmp_path: Path, parallel: int = 2) -> ApiServer:
    return ApiServer(tmp_path / "data", env={"MINI_RUNNER__MAX_PARALLEL": str(parallel)})


def test_each_dataset_is_a_forked_child_of_its_own(tmp_path: Path) -> None:
    server = _server(tmp_path).start()
    data_dir = server.data_dir
    try:
        _wait_for(lambda: _fork_servers(data_dir))
        (zygote,) = _fork_servers(data_dir)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            body = _big_csv(ROWS)
            ids = [_upload(client, body, f"big{i}") for i in range(2)]
            _wait_for(lambda: all(_processors(data_dir, d) for d in ids))
            children = [_processors(data_dir, d)[0] for d in ids]
            # Two processes at once, each forked by the server, titled with its dataset.
            assert children[0].pid != children[1].pid
            assert all(c.ppid() == zygote.pid for c in children)
            for child, dataset_id in zip(children, ids, strict=True):
                title = ["-m", "processor", "run", "--dataset-id", dataset_id]
                assert child.cmdline()[1:6] == title
            for dataset_id in ids:
                status = wait_final(client, dataset_id, timeout=300)
                assert status["status"] == "ready", status
                assert status["rows_out"] == ROWS
                logs = client.get(f"/datasets/{dataset_id}/logs").text
                assert f"dataset {dataset_id} ready: {ROWS} rows in" in logs
            tiny = _upload(client, TINY, "tiny")
            assert wait_final(client, tiny)["status"] == "ready"
        assert _fork_servers(data_dir) == [zygote]
    finally:
        server.stop()
    _wait_for(lambda: not _fork_servers(data_dir), timeout=15)


def test_a_crashed_child_fails_only_its_dataset(tmp_path: Path) -> None:
    server = _server(tmp_path).start()
    data_dir = server.data_dir
    try:
        _wait_for(lambda: _fork_servers(data_dir))
        (zygote,) = _fork_servers(data_dir)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            body = _big_csv(ROWS)
            crashing, other = (_upload(client, body, f"c{i}") for i in range(2))
            _wait_for(lambda: _processors(data_dir, crashing) and _processors(data_dir, other))
            # A segfault, as far as anyone outside the process can tell.
            os.kill(_processors(data_dir, crashing)[0].pid, signal.SIGSEGV)
            status = wait_final(client, crashing, timeout=300)
            assert status["status"] == "failed"
            assert "processor exited with code -11" in str(status["error"])
            status = wait_final(client, other, timeout=300)
            assert status["status"] == "ready", status
            assert status["rows_out"] == ROWS
            # A bad file: exit 2, so the processor's own message, not a crash. A JSON
            # object passes the upload's sniff (JSON is read) but holds no rows.
            bad = _upload(client, b'{\n  "a": 1,\n  "b": [1, 2]\n}\n', "bad")
            status = wait_final(client, bad)
            assert status["status"] == "failed"
            assert "exited with code" not in str(status["error"]), status
            assert str(status["error"]) in client.get(f"/datasets/{bad}/logs").text
            assert wait_final(client, _upload(client, TINY, "after"))["status"] == "ready"
        # The server itself never noticed.
        assert _fork_servers(data_dir) == [zygote]
    finally:
        server.stop()


def test_a_killed_fork_server_is_replaced_and_its_run_redone(tmp_path: Path) -> None:
    server = _server(tmp_path, parallel=1).start()
    data_dir = server.data_dir
    try:
        _wait_for(lambda: _fork_servers(data_dir))
        (zygote,) = _fork_servers(data_dir)
        with httpx.Client(base_url=server.url, timeout=60) as client:
            big = _upload(client, _big_csv(ROWS), "big")
            _wait_for(lambda: _processors(data_dir, big))
            (child,) = _processors(data_dir, big)
            zygote.kill()
            # Its child dies with it (PDEATHSIG), and the run starts again as a subprocess.
            child.wait(timeout=5)
            status = wait_final(client, big, timeout=300)
            assert status["status"] == "ready", status
            assert status["rows_out"] == ROWS
            # Uploads go on, and a new server takes over.
            deadline = time.monotonic() + 60
            while not [z for z in _fork_servers(data_dir) if z.pid != zygote.pid]:
                assert time.monotonic() < deadline, "no new fork server"
                tiny = _upload(client, TINY, "tiny")
                assert wait_final(client, tiny)["status"] == "ready"
                time.sleep(0.5)
    finally:
        server.stop()


def test_the_fork_server_and_its_children_die_with_the_api(tmp_path: Path) -> None:
    server = _server(tmp_path).start()
    data_dir = server.data_dir
    try:
        _wait_for(lambda: _fork_servers(data_dir))
        with httpx.Client(base_url=server.url, timeout=60) as client:
            big = _upload(client, _big_csv(ROWS), "big")
            _wait_for(lambda: _processors(data_dir, big))
        running = _fork_servers(data_dir) + _processors(data_dir)
        server.kill()  # SIGKILL: no shutdown code runs
        _, alive = psutil.wait_procs(running, timeout=2)
        assert not alive, alive
    finally:
        server.stop()


def test_without_the_fork_server_each_run_is_a_subprocess(tmp_path: Path) -> None:
    server = ApiServer(tmp_path / "data", env={"MINI_RUNNER__FORK_SERVER": "false"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert wait_final(client, _upload(client, TINY, "tiny"))["status"] == "ready"
        assert _fork_servers(server.data_dir) == []
    finally:
        server.stop()


def test_processors_never_get_the_apis_secrets(tmp_path: Path) -> None:
    """API keys and the webhook secret stay in the API: neither the fork server nor a
    processor (forked or a plain subprocess) has them in its environment."""
    key = "k-" + "z" * 40
    secrets = {"MINI_API_KEYS": key, "MINI_WEBHOOKS__SECRET": "hook-" + "s" * 30}
    for fork_server in ("true", "false"):
        _check_processor_env(tmp_path, secrets, key, fork_server)


def _check_processor_env(
    tmp_path: Path, secrets: dict[str, str], key: str, fork_server: str
) -> None:
    data = (tmp_path / fork_server).resolve()
    env = {**secrets, "MINI_RUNNER__FORK_SERVER": fork_server}
    with (
        ApiServer(data, env) as server,
        httpx.Client(
            base_url=server.url, timeout=120, headers={"Authorization": f"Bearer {key}"}
        ) as c,
    ):
        r = c.post("/upload", content=_big_csv(ROWS), headers=CSV)
        assert r.status_code == 202, r.text
        dataset_id = r.json()["id"]
        _wait_for(lambda: _processors(data, dataset_id))
        children = _processors(data, dataset_id) + _fork_servers(data)
        if fork_server == "true":
            assert _fork_servers(data)
        for proc in children:
            seen = proc.environ()
            assert seen["MINI_DATA_DIR"] == str(data)
            assert not [k for k in seen if k.startswith(("MINI_API_KEYS", "MINI_WEBHOOKS__"))]
            assert secrets["MINI_WEBHOOKS__SECRET"] not in seen.values()
        assert wait_final(c, dataset_id, timeout=300)["status"] == "ready"
