"""Many small files, fast (issue 14 §4): upload-to-ready latency of a tiny file on the
embedded default, a burst of tiny files, and a cold `python -m processor run`.

`make bench ARGS=bench_small_files`. Options (with `=`):

  --samples=N   tiny uploads timed one after the other (default 20)
  --burst=N     tiny files uploaded at once (default 100)
  --cold=N      cold `python -m processor run` timed (default 10)
  --no-compare  leave out the same latency with MINI_RUNNER__FORK_SERVER=false
  --real-node=N N tiny uploads as processor pods on the real node (default 0: left out;
                ≈ 2-5 min to deploy first, see README Tests): each pod's own start to
                exit and CPU from its timing line (processor/timing.py), the kubelet's
                whole seconds beside them
  A figure whose count is 0 is left out (e.g. --samples=0 --burst=0 --cold=0).

Every figure comes from real processes on loopback: the API as `python -m api`, the
processor as the command a Kubernetes pod runs (against the local store here, so the
figure is the processor's own start and work, without S3 or the pod's start).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core import keys  # noqa: E402
from tests.servers.api import ApiServer  # noqa: E402

TINY = b"id,name,amount,day\n1,a,1.5,2024-01-01\n2,b,2.5,2024-01-02\n3,c,3.5,2024-01-03\n"
LATENCY_GOAL_S = 0.150
BURST_GOAL_S = 5.0
COLD_GOAL_S = 0.5
POLL_S = 0.005
BURST_POLL_S = 0.1


def _wait_ready(client: httpx.Client, dataset_id: str, timeout: float = 120.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status: str = client.get(f"/datasets/{dataset_id}/status").json()["status"]
        if status in ("ready", "failed"):
            return status
        time.sleep(POLL_S)
    return "timeout"


def _upload(client: httpx.Client, name: str) -> str:
    r = client.post(f"/upload?name={name}", content=TINY, headers={"Content-Type": "text/csv"})
    r.raise_for_status()
    dataset_id: str = r.json()["id"]
    return dataset_id


def _cpu_seconds(server: ApiServer) -> float:
    """CPU used so far by the API and every process it started (the fork server and its
    children, or subprocesses): unlike wall time, not stretched by other load."""
    assert server.proc is not None
    api = psutil.Process(server.proc.pid)
    total = 0.0
    for proc in [api, *api.children()]:
        try:
            t = proc.cpu_times()
        except psutil.NoSuchProcess:
            continue
        # Reaped children count in their parent's children_* times.
        total += t.user + t.system + t.children_user + t.children_system
    return total


def _warm(client: httpx.Client) -> None:
    """Until a first upload is ready: the fork server has warmed up by then."""
    time.sleep(2.0)
    _wait_ready(client, _upload(client, "warm"))


def latency(samples: int, env: dict[str, str] | None = None) -> tuple[list[float], float]:
    """Seconds from sending a tiny upload to seeing it ready, one upload at a time; and
    the CPU seconds per upload (the polling client's requests included)."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-small-") as tmp,
        ApiServer(Path(tmp), env=env) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        _warm(client)
        out = []
        cpu = _cpu_seconds(server)
        for i in range(samples):
            started = time.perf_counter()
            status = _wait_ready(client, _upload(client, f"tiny{i}"))
            out.append(time.perf_counter() - started)
            if status != "ready":
                raise RuntimeError(f"tiny upload ended {status}")
        return out, (_cpu_seconds(server) - cpu) / samples


def burst(files: int) -> tuple[float, int, float]:
    """Seconds from the first of `files` concurrent tiny uploads to all ready; how many
    ended ready; CPU seconds per file."""
    with (
        tempfile.TemporaryDirectory(prefix="bench-small-") as tmp,
        ApiServer(Path(tmp)) as server,
        httpx.Client(base_url=server.url, timeout=60) as client,
    ):
        _warm(client)

        # One client (a kept-alive connection) per sending thread, as a program
        # sending a batch would: a new httpx.Client per file builds an SSL context each
        # time (≈ 10 ms of CPU), which this machine's two cores would take from the API.
        local = threading.local()
        clients: list[httpx.Client] = []

        def one(i: int) -> str:
            if not hasattr(local, "client"):
                local.client = httpx.Client(base_url=server.url, timeout=120)
                clients.append(local.client)
            return _upload(local.client, f"burst{i}")

        def finished(status: str) -> int:
            query: dict[str, str | int] = {"prefix": "burst", "status": status, "limit": 1}
            total: int = client.get("/datasets", params=query).json()["total"]
            return total

        cpu = _cpu_seconds(server)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(one, range(files)))
        for c in clients:
            c.close()
        # One cheap request per poll, ten a second: polling each file, or polling
        # faster, would spend the cores of the API it measures (two requests every
        # 20 ms cost it ≈ 10% of its CPU in the burst). Failures are counted only when
        # the ready count stands still.
        deadline = time.monotonic() + 600
        ready = 0
        while time.monotonic() < deadline:
            before, ready = ready, finished("ready")
            if ready >= files or (ready == before and ready + finished("failed") >= files):
                break
            time.sleep(BURST_POLL_S)
        seconds = time.perf_counter() - started
        if ready < files:
            failed = client.get("/datasets", params={"prefix": "burst", "status": "failed"})
            for item in failed.json()["items"][:3]:
                print(f"failed: {item}")
        return seconds, ready, (_cpu_seconds(server) - cpu) / files


def cold(runs: int) -> tuple[list[float], list[float]]:
    """Seconds of `python -m processor run --dataset-id ID` on a tiny upload, start to
    exit; and the CPU seconds of each run."""
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        objects = Path(tmp) / "objects"
        (objects / "processed").mkdir(parents=True)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MINI_")}
        env |= {"MINI_DATA_DIR": tmp, "MINI_PROCESSOR__UPDATE_CATALOG": "false"}
        out, cpu = [], []
        for _ in range(runs):
            dataset_id = uuid.uuid4().hex
            raw = objects / "raw" / keys.raw_key(dataset_id)
            raw.parent.mkdir(parents=True)
            raw.write_bytes(TINY)
            cmd = [sys.executable, "-m", "processor", "run", "--dataset-id", dataset_id]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.perf_counter()
            done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, timeout=120)
            out.append(time.perf_counter() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
            if done.returncode != 0:
                raise RuntimeError(f"processor exited {done.returncode}: {done.stderr[-500:]!r}")
        return out, cpu


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_small_files")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--burst", type=int, default=100)
    parser.add_argument("--cold", type=int, default=10)
    parser.add_argument("--no-compare", action="store_true")
    parser.add_argument("--real-node", type=int, default=0)
    args = parser.parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average before: {os.getloadavg()}")
    rows: list[tuple[str, str, str]] = []
    if args.samples:
        rows += fork_server_rows(args)
    if args.burst:
        rows += burst_rows(args)
    if args.cold:
        rows += cold_rows(args)
    if args.real_node:
        rows += real_node_rows(args.real_node)
    width = max((len(r[0]) for r in rows), default=0)
    for name, value, ratio in rows:
        print(f"{name:<{width}}  {value:<28}  {ratio}")
    print(f"load average after: {os.getloadavg()}")
    return 0


def fork_server_rows(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows = []
    lat, cpu = latency(args.samples)
    median = statistics.median(lat)
    rows.append(
        (
            f"tiny upload -> ready, median of {len(lat)} (fork server)",
            f"{_ms(median)} (min {_ms(min(lat))}, max {_ms(max(lat))})",
            f"{median / LATENCY_GOAL_S:.2f}x the 150 ms goal",
        )
    )
    rows.append(("  CPU per upload, API + processor + status polls", _ms(cpu), ""))
    if not args.no_compare:
        plain, plain_cpu = latency(max(3, args.samples // 4), {"MINI_RUNNER__FORK_SERVER": "false"})
        rows.append(
            (
                f"tiny upload -> ready, median of {len(plain)} (subprocess per file)",
                f"{_ms(statistics.median(plain))} (CPU {_ms(plain_cpu)})",
                f"{statistics.median(plain) / median:.1f}x the fork server",
            )
        )
    return rows


def burst_rows(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows = []
    seconds, ready, cpu = burst(args.burst)
    cores = os.cpu_count() or 1
    rows.append(
        (
            f"{args.burst} tiny files at once -> all ready",
            f"{seconds:.2f} s ({ready} ready)",
            f"{seconds / BURST_GOAL_S:.2f}x the 5 s goal",
        )
    )
    # What the burst needs of idle cores: its CPU spread over them (a floor, not a figure).
    floor = cpu * args.burst / cores
    rows.append(
        (
            "  CPU per file; that CPU over this machine's cores",
            f"{_ms(cpu)}; {floor:.2f} s",
            f"{floor / BURST_GOAL_S:.2f}x the 5 s goal",
        )
    )
    return rows


def cold_rows(args: argparse.Namespace) -> list[tuple[str, str, str]]:
    rows = []
    runs, cpu_runs = cold(args.cold)
    median = statistics.median(runs)
    rows.append(
        (
            f"cold `python -m processor run`, tiny file, median of {len(runs)}",
            f"{_ms(median)} (min {_ms(min(runs))})",
            f"{median / COLD_GOAL_S:.2f}x the 0.5 s goal",
        )
    )
    rows.append(("  its CPU, median", _ms(statistics.median(cpu_runs)), ""))
    return rows


def real_node_rows(runs: int) -> list[tuple[str, str, str]]:
    """The same command as a Job's pod on the real node (kubelet, containerd, runc, the
    processor image, S3 through the stand-in), measured by the processor itself."""
    from tests.deploy.test_real_node import deployed, describe, tiny_pod_timings
    from tests.servers.kube import KubeControlPlane

    with KubeControlPlane() as kube, deployed(kube) as real:
        tiny_pod_timings(real, 1)  # the first pod also warms the stand-in S3's buckets
        load = os.getloadavg()[0]
        found = tiny_pod_timings(real, runs)
        load = max(load, os.getloadavg()[0])
    for kubelet_s, timing in found:
        print(describe(kubelet_s, timing))
    ages = [t["age_s"] for _, t in found]
    cpus = [t["cpu_s"] for _, t in found]
    kubelet = [k for k, _ in found]
    median = statistics.median(ages)
    return [
        (
            f"processor pod on the real node, tiny file, start to exit, median of {runs}",
            f"{_ms(median)} (min {_ms(min(ages))})",
            f"{median / COLD_GOAL_S:.2f}x the 0.5 s goal (load average up to {load:.1f})",
        ),
        (
            "  its CPU, median",
            _ms(statistics.median(cpus)),
            f"{statistics.median(cpus) / COLD_GOAL_S:.2f}x the 0.5 s goal",
        ),
        (
            "  the kubelet's start to finish (whole seconds), median",
            f"{statistics.median(kubelet):.0f} s",
            "",
        ),
    ]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
