"""Many small files through the Kubernetes runner (issue 14 §4): files per hour, apiserver
requests and catalog transactions per file, and the API's CPU and memory.

`make bench ARGS="bench_k8s_scale"`. Options (with `=`):

  --files=N            uploads to feed (default 10000)
  --seconds=N          stop feeding after this long (default 420); the rate is then
                       measured over what finished, labelled extrapolated
  --drain=N            then wait at most this long for the rest (default 180)
  --backlog=N          uploads not yet final at most, 0: no limit (default 300)
  --pod-seconds=X      how long a simulated processor pod runs (default 2.0)
  --nodes=N            simulated nodes (default 3)
  --max-active-jobs=N  MINI_RUNNER__KUBERNETES__MAX_ACTIVE_JOBS (default: k8s/base/config.yaml)
  --clients=N          concurrent uploaders (default 4)
  --kcm-qps=N          kube-controller-manager's --kube-api-qps (default: its own, 20)

What is real: etcd, kube-apiserver, kube-controller-manager (the Job controller, TTL and
garbage collection at their default client rates), kube-scheduler, the API process
(`python -m api`, uploads over HTTP, the Kubernetes runner with its own ServiceAccount
token), PostgreSQL as the catalog and SeaweedFS as S3, all on loopback.

What is simulated: the nodes and the pods (kwok: a pod turns Running, then Succeeded
`--pod-seconds` later; there is no kubelet, so the runner's pod-log read answers an
error), and the processor: its outputs (made once by `python -m processor process` on the
same tiny CSV) are written under each dataset's keys right after its upload, as the pod
would have, so the runner records each dataset from a real result manifest.

Counting: apiserver requests from the apiserver's audit log, the API's ServiceAccount's
by verb and resource and everyone's by client (the whole cluster's
`apiserver_request_total` beside it); catalog transactions from PostgreSQL's
`pg_stat_database` (a pool pre-ping counts as one), told apart into writes, read-only
sessions and pre-pings by its statement log; CPU time and peak RSS of the API process
from /proc. Every figure covers the run after the API started; per-file figures divide
by the files that became final.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from core.outputs import publish  # noqa: E402
from core.settings import Settings, StorageBackend, StorageSettings  # noqa: E402
from core.storage.factory import ensure_buckets, make_store  # noqa: E402
from tests.servers.api import ApiServer  # noqa: E402
from tests.servers.kube import (  # noqa: E402
    FAKE_NODE_SELECTOR,
    FAKE_NODE_TOLERATIONS,
    KWOK_STAGES,
    KubeControlPlane,
)
from tests.servers.postgres import PostgresServer  # noqa: E402
from tests.servers.seaweed import SeaweedS3  # noqa: E402

GOAL_FILES_PER_HOUR = 10_000
NAMESPACE = "mini-pipeline"
API_USER = f"system:serviceaccount:{NAMESPACE}:mini-api"
CONFIG_YAML = ROOT / "k8s" / "base" / "config.yaml"
CSV = b"id,name,score\n1,alpha,1.5\n2,beta,2.5\n3,gamma,3.5\n"

# Pods on the kwok nodes: Running at once, Succeeded (exit 0) after the simulated run,
# removed when deleted (the garbage collector deletes them with their Job).
POD_STAGES = """\
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-ready
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Pending'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Initialized
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: ContainersReady
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "True"
        type: PodScheduled
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: true
        restartCount: 0
        started: true
        state:
          running:
            startedAt: {{ $now | Quote }}
      {{ end }}
      phase: Running
      startTime: {{ $now | Quote }}
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-complete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'DoesNotExist'
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
  delay:
    durationMilliseconds: POD_MILLISECONDS
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: Ready
      - lastTransitionTime: {{ $now | Quote }}
        status: "False"
        type: ContainersReady
      containerStatuses:
      {{ range .spec.containers }}
      - image: {{ .image | Quote }}
        name: {{ .name | Quote }}
        ready: false
        restartCount: 0
        started: false
        state:
          terminated:
            exitCode: 0
            reason: Completed
            finishedAt: {{ $now | Quote }}
      {{ end }}
      phase: Succeeded
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: pod-delete
spec:
  resourceRef:
    apiGroup: v1
    kind: Pod
  selector:
    matchExpressions:
    - key: '.metadata.deletionTimestamp'
      operator: 'Exists'
  next:
    finalizers:
      empty: true
    delete: true
"""

# One line per finished request, whoever made it: the API's are counted per file, the
# others show what the rest of the cluster spends on a Job.
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived", "ResponseStarted"]
rules:
- level: Metadata
"""


class ScaleCluster(KubeControlPlane):
    """The test control plane with `nodes` kwok nodes, pod Stages and an audit log."""

    def __init__(self, nodes: int, pod_seconds: float, kcm_qps: int = 0) -> None:
        super().__init__()
        self.kcm_qps = kcm_qps
        self.nodes = nodes
        self.pod_seconds = pod_seconds
        self.audit_path = self.workdir / "audit.log"

    def _write_files(self) -> None:
        super()._write_files()
        stages = POD_STAGES.replace("POD_MILLISECONDS", str(int(self.pod_seconds * 1000)))
        (self.workdir / "kwok-stages.yaml").write_text(KWOK_STAGES + stages)
        (self.workdir / "audit-policy.yaml").write_text(AUDIT_POLICY)

    def _commands(self) -> dict[str, list[str]]:
        commands = super()._commands()
        commands["kube-apiserver"] += [
            f"--audit-policy-file={self.workdir / 'audit-policy.yaml'}",
            f"--audit-log-path={self.audit_path}",
            "--audit-log-maxsize=0",
        ]
        if self.kcm_qps:
            commands["kube-controller-manager"] += [
                f"--kube-api-qps={self.kcm_qps}",
                f"--kube-api-burst={self.kcm_qps * 3 // 2}",
            ]
        return commands

    def start(self) -> ScaleCluster:
        super().start()
        names = [self.node_name]
        for i in range(1, self.nodes):
            node = self._fake_node()
            name = f"kwok-node-{i}"
            node["metadata"]["name"] = name
            node["metadata"]["labels"]["kubernetes.io/hostname"] = name
            self.request("POST", "/api/v1/nodes", node)
            names.append(name)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            ready = 0
            for name in names:
                conditions = self.request("GET", f"/api/v1/nodes/{name}")["status"].get(
                    "conditions", []
                )
                ready += any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
            if ready == len(names):
                return self
            time.sleep(0.5)
        raise TimeoutError(f"kwok nodes not Ready: {names}")

    def metrics_text(self) -> str:
        req = urllib.request.Request(
            f"{self.server}/metrics", headers={"Authorization": f"Bearer {self.token}"}
        )
        ctx = ssl.create_default_context(cafile=str(self.ca_path))
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            return str(resp.read().decode())

    def requests_total(self) -> int:
        """Every request the apiserver answered (all clients), from its own metrics."""
        total = 0.0
        for line in self.metrics_text().splitlines():
            if line.startswith("apiserver_request_total{"):
                total += float(line.rsplit(" ", 1)[1])
        return int(total)

    def audited(self) -> tuple[Counter[str], Counter[str]]:
        """Requests so far from the audit log: the API's by verb and resource, and
        everyone's by client (user name, and the component for the admin token)."""
        api: Counter[str] = Counter()
        clients: Counter[str] = Counter()
        if not self.audit_path.exists():
            return api, clients
        with self.audit_path.open() as fh:
            for line in fh:
                event = json.loads(line)
                user = event.get("user", {}).get("username", "?")
                if user == API_USER:
                    ref = event.get("objectRef") or {}
                    resource = ref.get("resource", event.get("requestURI", "?"))
                    if ref.get("subresource"):
                        resource += "/" + ref["subresource"]
                    api[f"{event['verb']} {resource}"] += 1
                    user = "mini-api (the runner)"
                elif user == "admin":
                    # kwok, the scheduler and kube-controller-manager's own client share
                    # the admin kubeconfig: the user agent tells them apart.
                    user = "admin: " + str(event.get("userAgent", "?")).split("/")[0]
                clients[user.removeprefix("system:serviceaccount:kube-system:")] += 1
        return api, clients


def service_account_kubeconfig(kube: KubeControlPlane, path: Path) -> Path:
    """A kubeconfig holding only a bound token of the API's ServiceAccount."""
    answer = kube.request(
        "POST",
        f"/api/v1/namespaces/{NAMESPACE}/serviceaccounts/mini-api/token",
        {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
         "spec": {"audiences": [], "expirationSeconds": 7200}},
    )  # fmt: skip
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "mini",
                        "cluster": {
                            "server": kube.server,
                            "certificate-authority": str(kube.ca_path),
                        },
                    }
                ],
                "users": [{"name": "mini-api", "user": {"token": answer["status"]["token"]}}],
                "contexts": [
                    {"name": "mini-api", "context": {"cluster": "mini", "user": "mini-api"}}
                ],
                "current-context": "mini-api",
            }
        )
    )
    path.chmod(0o600)
    return path


def shipped_max_active_jobs() -> int:
    found = re.search(r'MAX_ACTIVE_JOBS:\s*"(\d+)"', CONFIG_YAML.read_text())
    return int(found.group(1)) if found else 0


class ProcessFigures:
    """CPU seconds and peak RSS of one process, from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._tick = os.sysconf("SC_CLK_TCK")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime: fields 14 and 15 of stat(5), here 12 and 13 after the name.
        return (int(fields[11]) + int(fields[12])) / self._tick

    def status_kib(self, key: str) -> int:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
        return 0


def processor_outputs(workdir: Path) -> tuple[Path, dict[str, Any]]:
    """The files the processor makes of CSV, and the result manifest a Job would write."""
    from processor.run import result_metrics  # the manifest's figures, as a Job has them

    source, out = workdir / "tiny.csv", workdir / "outputs"
    source.write_bytes(CSV)
    subprocess.run(
        [sys.executable, "-m", "processor", "process", str(source), str(out), "-q"],
        cwd=ROOT,
        check=True,
        timeout=120,
    )
    report = json.loads((out / "report.json").read_text())
    result = {
        "status": "ready",
        "rows_in": int(report.get("rows_in", 0)),
        "rows_out": int(report.get("rows_out", 0)),
        "rows_rejected": int(report.get("rows_rejected", 0)),
        "schema_change": report.get("schema_change"),
        "metrics": result_metrics(report, len(CSV)),
    }
    return out, result


class Progress:
    """Final datasets so far, counted in the catalog itself: the API's /metrics would
    do it too, but it loads every dataset row to count them, which would bill the API
    for the bench's polling. Each count is one transaction of the catalog database,
    taken off the API's figures."""

    def __init__(self, pg: PostgresServer, database: str) -> None:
        self._conn = pg.connect(database)
        self.queries = 0

    def final(self) -> dict[str, int]:
        self.queries += 1
        rows = self._conn.execute(
            "SELECT status, count(*) FROM datasets WHERE status IN ('ready', 'failed') "
            "GROUP BY status"
        ).fetchall()
        return {"ready": 0, "failed": 0, **{str(s): int(n) for s, n in rows}}

    def close(self) -> None:
        self._conn.close()


def pg_transactions(pg: PostgresServer, database: str) -> tuple[int, int]:
    """(commits, rollbacks) of `database`, read through the `postgres` database."""
    with pg.connect() as conn:
        # A fresh snapshot: the statistics view caches within a transaction.
        conn.execute("SELECT pg_stat_clear_snapshot()")
        row = conn.execute(
            "SELECT xact_commit, xact_rollback FROM pg_stat_database WHERE datname = %s",
            (database,),
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def catalog_sessions(log_path: Path, offset: int) -> Counter[str]:
    """COMMIT, ROLLBACK and pre-ping (';') statements logged from `offset` on: the API's
    write transactions, read-only sessions and pool pre-pings. pg_stat_database counts
    a pre-ping as a committed transaction of its own."""
    found: Counter[str] = Counter()
    with log_path.open("rb") as fh:
        fh.seek(offset)
        for line in fh:
            m = re.search(rb"LOG:  statement: (COMMIT|ROLLBACK|;)\s*$", line)
            if m:
                found[m.group(1).decode()] += 1
    return found


def sustained_rate(finished: list[float]) -> tuple[float, int]:
    """Files per hour between the 10th and 90th percentile of completions (warm-up and
    drain left out), and how many completions that window holds."""
    if len(finished) < 10:
        return float("nan"), len(finished)
    ordered = sorted(finished)
    lo, hi = len(ordered) // 10, (len(ordered) * 9) // 10
    span = ordered[hi] - ordered[lo]
    return ((hi - lo) / span * 3600 if span > 0 else float("nan")), hi - lo


def run(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-k8s-") as tmp_name:
        tmp = Path(tmp_name)
        out_dir, result = processor_outputs(tmp)
        started = time.monotonic()
        with (
            ScaleCluster(args.nodes, args.pod_seconds, args.kcm_qps) as kube,
            SeaweedS3() as s3,
            PostgresServer() as pg,
        ):
            print(f"servers up in {time.monotonic() - started:.0f}s", flush=True)
            for manifest in ("namespace.yaml", "rbac.yaml"):
                kube.kubectl("apply", "-f", str(ROOT / "k8s" / "base" / manifest))
            kubeconfig = service_account_kubeconfig(kube, tmp / "kubeconfig")
            database = pg.create_database()
            with pg.connect() as conn:
                # Every statement of the API's sessions, to tell writes from reads and pings.
                conn.execute(f"ALTER DATABASE {database} SET log_statement = 'all'")
            settings = Settings(
                storage=StorageSettings(
                    backend=StorageBackend.s3,
                    endpoint=s3.endpoint,
                    access_key=s3.access_key,
                    secret_key=SecretStr(s3.secret_key),
                    raw_bucket="bench-raw",
                    processed_bucket="bench-processed",
                )
            )
            store = make_store(settings)
            ensure_buckets(store, settings)
            env = {
                "MINI_DATABASE_URL": pg.url(database),
                "MINI_STORAGE__BACKEND": "s3",
                "MINI_STORAGE__ENDPOINT": s3.endpoint,
                "MINI_STORAGE__ACCESS_KEY": s3.access_key,
                "MINI_STORAGE__SECRET_KEY": s3.secret_key,
                "MINI_STORAGE__SECURE": "false",
                "MINI_STORAGE__RAW_BUCKET": "bench-raw",
                "MINI_STORAGE__PROCESSED_BUCKET": "bench-processed",
                "MINI_RUNNER__BACKEND": "kubernetes",
                "MINI_RUNNER__KUBERNETES__KUBECONFIG": str(kubeconfig),
                "MINI_RUNNER__KUBERNETES__NAMESPACE": NAMESPACE,
                "MINI_RUNNER__KUBERNETES__IMAGE": "mini-pipeline-processor:bench",
                "MINI_RUNNER__KUBERNETES__NODE_SELECTOR": json.dumps(FAKE_NODE_SELECTOR),
                "MINI_RUNNER__KUBERNETES__TOLERATIONS": json.dumps(FAKE_NODE_TOLERATIONS),
                "MINI_RUNNER__KUBERNETES__MAX_ACTIVE_JOBS": str(args.max_active_jobs),
            }
            with ApiServer(tmp / "api", env) as server:
                assert server.proc is not None
                proc = ProcessFigures(server.proc.pid)
                time.sleep(2)  # the runner's first list and reconcile
                before = {
                    "cpu": proc.cpu_seconds(),
                    "requests": kube.audited(),
                    "cluster": kube.requests_total(),
                    "xact": pg_transactions(pg, database),
                    "pg log": pg.log_path.stat().st_size,
                    "rss": proc.status_kib("VmRSS"),
                }
                progress = Progress(pg, database)
                figures = feed(args, server.url, progress, store, out_dir, result, proc)
                progress.close()
                after = {
                    "cpu": proc.cpu_seconds(),
                    "requests": kube.audited(),
                    "cluster": kube.requests_total(),
                    "xact": pg_transactions(pg, database),
                    "peak": proc.status_kib("VmHWM"),
                }
                sessions = catalog_sessions(pg.log_path, int(before["pg log"]))
            with pg.connect(database) as conn:
                rows = conn.execute(
                    "SELECT status, extract(epoch FROM finished_at) FROM datasets"
                ).fetchall()
    done = [r for r in rows if r[0] in ("ready", "failed")]
    files = len(done)
    rate, window = sustained_rate([float(r[1]) for r in done])
    requests = after["requests"][0] - before["requests"][0]
    clients = after["requests"][1] - before["requests"][1]
    commits = after["xact"][0] - before["xact"][0] - progress.queries
    rollbacks = after["xact"][1] - before["xact"][1]
    per = max(files, 1)
    return {
        **figures,
        "final": files,
        "ready": sum(1 for r in done if r[0] == "ready"),
        "failed": sum(1 for r in done if r[0] == "failed"),
        "still queued or processing": len(rows) - files,
        "sustained files/hour": rate,
        "sustained window (files)": window,
        "api requests/file": sum(requests.values()) / per,
        "api requests by kind (per file)": {
            k: round(v / per, 2) for k, v in sorted(requests.items(), key=lambda kv: -kv[1])
        },
        "cluster requests/file (all clients)": (after["cluster"] - before["cluster"]) / per,
        "cluster requests by client (per file)": {
            k: round(v / per, 2) for k, v in clients.most_common(12)
        },
        "catalog transactions/file (pg_stat_database)": (commits + rollbacks) / per,
        "  writes (BEGIN ... COMMIT)": sessions["COMMIT"] / per,
        "  reads (BEGIN ... ROLLBACK)": sessions["ROLLBACK"] / per,
        "  connection pre-pings (';')": sessions[";"] / per,
        "api cpu s": after["cpu"] - before["cpu"],
        "api cpu ms/file": (after["cpu"] - before["cpu"]) * 1000 / per,
        "api rss MiB at start": before["rss"] / 1024,
        "api peak rss MiB": after["peak"] / 1024,
    }


def feed(
    args: argparse.Namespace,
    url: str,
    progress: Progress,
    store: Any,
    out_dir: Path,
    result: dict[str, Any],
    proc: ProcessFigures,
) -> dict[str, Any]:
    """Upload `args.files` tiny CSVs from `args.clients` threads, writing each one's
    outputs as its pod would, with at most `args.backlog` not yet final; stop feeding
    after `args.seconds` and wait up to `args.drain` more for the rest, so that every
    figure divides by files that went all the way through."""
    deadline = time.monotonic() + args.seconds
    lock = threading.Lock()
    next_index = [0]
    uploaded = [0]
    final = [0]
    refused: Counter[int] = Counter()

    def uploader() -> None:
        with httpx.Client(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline:
                if args.backlog and uploaded[0] - final[0] >= args.backlog:
                    time.sleep(0.2)
                    continue
                with lock:
                    i = next_index[0]
                    if i >= args.files:
                        return
                    next_index[0] += 1
                r = client.post(
                    f"/upload?name=bench-{i}",
                    content=CSV,
                    headers={"Content-Type": "text/csv"},
                )
                if r.status_code != 202:
                    with lock:
                        refused[r.status_code] += 1
                    continue
                publish(store, "bench-processed", r.json()["id"], out_dir, result)
                with lock:
                    uploaded[0] += 1

    started = time.monotonic()
    threads = [threading.Thread(target=uploader, daemon=True) for _ in range(args.clients)]
    for t in threads:
        t.start()
    fed_at: float | None = None
    runs = {"ready": 0, "failed": 0}
    last_print = 0.0
    while time.monotonic() < deadline + args.drain:
        time.sleep(2)
        runs = progress.final()
        final[0] = runs["ready"] + runs["failed"]
        feeding = any(t.is_alive() for t in threads)
        if not feeding and fed_at is None:
            fed_at = time.monotonic() - started
        elapsed = time.monotonic() - started
        if elapsed - last_print >= 15:
            last_print = elapsed
            print(
                f"  {elapsed:5.0f}s uploaded {uploaded[0]} ready {runs['ready']} "
                f"failed {runs['failed']} api cpu {proc.cpu_seconds():.0f}s "
                f"rss {proc.status_kib('VmRSS') // 1024} MiB",
                flush=True,
            )
        if not feeding and final[0] >= uploaded[0]:
            break
    for t in threads:
        t.join(60)
    return {
        "files asked": args.files,
        "uploaded": uploaded[0],
        "refused uploads": dict(refused),
        "upload seconds": round(fed_at, 1) if fed_at is not None else "unfinished",
        "seconds": round(time.monotonic() - started, 1),
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_k8s_scale")
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=420.0)
    parser.add_argument("--drain", type=float, default=180.0)
    parser.add_argument("--backlog", type=int, default=300)
    parser.add_argument("--pod-seconds", type=float, default=2.0)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--max-active-jobs", type=int, default=shipped_max_active_jobs())
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--kcm-qps", type=int, default=0)
    args = parser.parse_args(argv)
    print(
        f"{args.files} uploads, {args.nodes} kwok nodes, pods run {args.pod_seconds}s "
        f"(simulated), max active Jobs {args.max_active_jobs or 'unlimited'}, "
        f"at most {args.backlog or 'any number of'} waiting, "
        f"feeding for at most {args.seconds:.0f}s",
        flush=True,
    )
    figures = run(args)
    print("\n| figure | result |\n| --- | --- |")
    for name, value in figures.items():
        shown = f"{value:.2f}" if isinstance(value, float) else value
        print(f"| {name} | {shown} |")
    rate = float(figures["sustained files/hour"])
    complete = figures["final"] >= args.files
    label = "measured" if complete else "extrapolated from a bounded run"
    print(
        f"\nsustained {rate:.0f} files/hour vs goal {GOAL_FILES_PER_HOUR} "
        f"(ratio {rate / GOAL_FILES_PER_HOUR:.2f}, {label}: "
        f"{figures['final']} of {args.files} files final in {figures['seconds']}s)"
    )
    if not complete and rate > 0:
        print(f"at that rate {args.files} files take {args.files / rate * 60:.0f} min")
    ok = rate >= GOAL_FILES_PER_HOUR and figures["failed"] == 0
    return 0 if ok else 1
