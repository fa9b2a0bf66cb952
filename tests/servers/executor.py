"""Test-only stand-in for a kubelet on the kwok node: runs pods as local subprocesses.

The control plane in `tests/servers/kube.py` has one fake node (kwok keeps it
Ready) and no kubelet, so pods bound to it would stay Pending. This executor:

* watches the pods bound to that node (list, then watch; list again on any error);
* resolves each container's environment through the API, as a kubelet would:
  `envFrom` ConfigMaps and Secrets, then `env` (values and ConfigMap, Secret
  and field references);
* runs the container's command as a local subprocess, `python` being this
  interpreter (the test venv stands in for the image), with a private TMPDIR
  standing in for the pod's emptyDir at /tmp;
* writes pod status Running, then Succeeded or Failed with the real exit code
  in `containerStatuses[].state.terminated.exitCode`, so the real job
  controller decides completion, retries and podFailurePolicy;
* honours deletion: a terminating pod's process is killed, its status written,
  and the pod removed with grace period 0;
* serves `GET /containerLogs/...` over HTTPS and points the node's address and
  kubelet port at itself, so `pods/log` through the real apiserver (and its
  RBAC) returns what the process printed.

Failure injection lives here, never in the product: `crash_first_attempt()`
makes the first pod of the next new dataset exit 1 without running anything,
and `hold()` keeps pods of the next new dataset Running until released.
"""

from __future__ import annotations

import base64
import contextlib
import http.server
import os
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

from kubernetes import client, config, watch
from kubernetes.client.exceptions import ApiException

from .kube import KubeControlPlane

ROOT = Path(__file__).resolve().parents[2]
DATASET_LABEL = "mini-pipeline/dataset-id"
CRASH_MESSAGE = "simulated crash: the executor failed this attempt on purpose"
KILL_GRACE_SECONDS = 5.0


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class PodRun:
    """One pod the executor ran (or refused to run)."""

    namespace: str
    name: str
    uid: str
    dataset_id: str | None
    log_path: Path
    started: float = field(default_factory=time.time)
    finished: float | None = None
    exit_code: int | None = None
    crashed_on_purpose: bool = False


@dataclass
class _Rules:
    crash_next: int = 0
    hold_next: int = 0
    crash_datasets: set[str] = field(default_factory=set)
    held_datasets: dict[str, threading.Event] = field(default_factory=dict)
    seen_datasets: set[str] = field(default_factory=set)


class _KubeletLogs(http.server.BaseHTTPRequestHandler):
    executor: PodExecutor

    def do_GET(self) -> None:
        url = urlparse(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[0] != "containerLogs":
            self.send_error(404)
            return
        _, namespace, pod, _container = parts
        path = self.executor.log_path_of(namespace, pod)
        if path is None:
            self.send_error(404, f"no container log for {namespace}/{pod}")
            return
        query = parse_qs(url.query)
        lines = path.read_text("utf-8", "replace").splitlines(keepends=True)
        if "tailLines" in query:
            lines = list(deque(lines, maxlen=int(query["tailLines"][0])))
        body = "".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class PodExecutor:
    def __init__(self, kube: KubeControlPlane, *, python: str = sys.executable) -> None:
        self.kube = kube
        self.node = kube.node_name
        self.python = python
        self.workdir = Path(tempfile.mkdtemp(prefix="pod-executor-"))
        api_config = client.Configuration()
        config.load_kube_config(
            config_file=str(kube.kubeconfig_path), client_configuration=api_config
        )
        self.api = client.ApiClient(api_config)
        self.core = client.CoreV1Api(self.api)
        self.runs: list[PodRun] = []
        self._rules = _Rules()
        self._lock = threading.Lock()
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._active: dict[str, threading.Event] = {}
        self._started: set[str] = set()
        self._deleting: set[str] = set()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._server: http.server.ThreadingHTTPServer | None = None
        self._watch: Any = None

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> PodExecutor:
        self._start_kubelet_server()
        self._point_node_at_us()
        for target, name in ((self._watch_loop, "pods"), (self._node_loop, "node")):
            thread = threading.Thread(target=target, name=f"executor-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        with self._lock:
            procs = list(self._procs.values())
            held = list(self._rules.held_datasets.values())
        for event in held:
            event.set()
        for proc in procs:
            _terminate(proc)
        if self._watch is not None:
            self._watch.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        self.api.close()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> PodExecutor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- failure injection ---------------------------------------------------------

    def crash_first_attempt(self) -> None:
        """The first pod of the next dataset not seen yet exits 1 without running."""
        with self._lock:
            self._rules.crash_next += 1

    def hold(self) -> None:
        """Pods of the next dataset not seen yet stay Running, not started, until release()."""
        with self._lock:
            self._rules.hold_next += 1

    def release(self, dataset_id: str) -> None:
        with self._lock:
            event = self._rules.held_datasets.get(dataset_id)
        if event is None:
            raise KeyError(f"no held pods for dataset {dataset_id}")
        event.set()

    def held(self) -> list[str]:
        with self._lock:
            return [d for d, e in self._rules.held_datasets.items() if not e.is_set()]

    def runs_of(self, dataset_id: str) -> list[PodRun]:
        with self._lock:
            return [r for r in self.runs if r.dataset_id == dataset_id]

    def log_path_of(self, namespace: str, pod: str) -> Path | None:
        with self._lock:
            for run in reversed(self.runs):
                if run.namespace == namespace and run.name == pod:
                    return run.log_path
        return None

    # -- the fake kubelet's log endpoint --------------------------------------------

    def _start_kubelet_server(self) -> None:
        cert, key = self.workdir / "kubelet.crt", self.workdir / "kubelet.key"
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=127.0.0.1",
                "-addext",
                "subjectAltName=IP:127.0.0.1",
                "-keyout",
                str(key),
                "-out",
                str(cert),
            ],
            check=True,
            capture_output=True,
        )
        handler = type("Handler", (_KubeletLogs,), {"executor": self})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(cert), str(key))
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server = server
        self.kubelet_port = server.server_address[1]
        thread = threading.Thread(target=server.serve_forever, name="executor-kubelet")
        thread.daemon = True
        thread.start()
        self._threads.append(thread)

    def _point_node_at_us(self) -> None:
        # The apiserver proxies pods/log to the node's address and kubelet port; a
        # merge patch replaces kwok's Hostname address, which does not resolve.
        self.kube.request(
            "PATCH",
            f"/api/v1/nodes/{self.node}/status",
            {
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                    "daemonEndpoints": {"kubeletEndpoint": {"Port": self.kubelet_port}},
                }
            },
            content_type="application/merge-patch+json",
        )

    def _node_loop(self) -> None:
        while not self._stop.wait(5):
            with contextlib.suppress(Exception):
                node = self.kube.request("GET", f"/api/v1/nodes/{self.node}")
                port = node["status"].get("daemonEndpoints", {}).get("kubeletEndpoint", {})
                if port.get("Port") != self.kubelet_port:
                    self._point_node_at_us()

    # -- watching pods -------------------------------------------------------------

    def _watch_loop(self) -> None:
        selector = f"spec.nodeName={self.node}"
        while not self._stop.is_set():
            try:
                pods = self.core.list_pod_for_all_namespaces(field_selector=selector)
                for pod in pods.items:
                    self._on_pod(pod)
                self._watch = watch.Watch()
                for event in self._watch.stream(
                    self.core.list_pod_for_all_namespaces,
                    field_selector=selector,
                    resource_version=pods.metadata.resource_version,
                    timeout_seconds=10,
                ):
                    if self._stop.is_set():
                        break
                    if event["type"] in ("ADDED", "MODIFIED"):
                        self._on_pod(event["object"])
            except Exception:
                if not self._stop.is_set():
                    time.sleep(0.5)

    def _on_pod(self, pod: client.V1Pod) -> None:
        uid = pod.metadata.uid
        phase = pod.status.phase if pod.status else None
        if pod.metadata.deletion_timestamp is not None:
            with self._lock:
                if uid in self._deleting:
                    return
                self._deleting.add(uid)
            threading.Thread(target=self._delete, args=(pod,), daemon=True).start()
            return
        with self._lock:
            if uid in self._started or phase not in (None, "Pending"):
                return
            self._started.add(uid)
        threading.Thread(target=self._run, args=(pod,), name=f"pod-{uid}", daemon=True).start()

    def _delete(self, pod: client.V1Pod) -> None:
        """What a kubelet does for a terminating pod: stop it, report it, then remove it."""
        uid = pod.metadata.uid
        with self._lock:
            deleting = self._active.get(uid)
            proc = self._procs.get(uid)
        if deleting is not None:
            deleting.set()
            if proc is not None:
                _terminate(proc)
            deadline = time.monotonic() + KILL_GRACE_SECONDS + 5
            while time.monotonic() < deadline:
                with self._lock:
                    if uid not in self._active:
                        break
                time.sleep(0.05)
        with contextlib.suppress(ApiException):
            self.core.delete_namespaced_pod(
                pod.metadata.name,
                pod.metadata.namespace,
                body=client.V1DeleteOptions(
                    grace_period_seconds=0,
                    preconditions=client.V1Preconditions(uid=uid),
                ),
            )

    # -- running one pod -----------------------------------------------------------

    def _decide(self, dataset_id: str | None) -> tuple[bool, threading.Event | None]:
        """(crash this attempt?, event to wait for before running)."""
        with self._lock:
            rules = self._rules
            if dataset_id is not None and dataset_id not in rules.seen_datasets:
                rules.seen_datasets.add(dataset_id)
                if rules.crash_next:
                    rules.crash_next -= 1
                    rules.crash_datasets.add(dataset_id)
                if rules.hold_next:
                    rules.hold_next -= 1
                    rules.held_datasets[dataset_id] = threading.Event()
            crash = dataset_id in rules.crash_datasets
            if crash:
                assert dataset_id is not None
                rules.crash_datasets.discard(dataset_id)
            return crash, rules.held_datasets.get(dataset_id or "")

    def _run(self, pod: client.V1Pod) -> None:
        meta = pod.metadata
        dataset_id = (meta.labels or {}).get(DATASET_LABEL)
        container = pod.spec.containers[0]
        try:
            env = self._environment(meta.namespace, container)
        except ApiException as exc:
            # A kubelet leaves such a pod waiting; so does this one, and tries again later.
            self._patch_status(pod, self._waiting_status(pod, exc))
            with self._lock:
                self._started.discard(meta.uid)
            return
        run = PodRun(
            namespace=meta.namespace,
            name=meta.name,
            uid=meta.uid,
            dataset_id=dataset_id,
            log_path=self.workdir / f"{meta.uid}.log",
        )
        run.log_path.touch()
        crash, hold = self._decide(dataset_id)
        run.crashed_on_purpose = crash
        deleting = threading.Event()
        with self._lock:
            self.runs.append(run)
            self._active[meta.uid] = deleting
        try:
            started = _now()
            self._patch_status(pod, self._running_status(pod, started))
            if hold is not None:
                while not hold.wait(0.1):
                    if self._stop.is_set() or deleting.is_set():
                        break
            if deleting.is_set() or self._stop.is_set():
                code = 137
            else:
                if crash:
                    argv = [self.python, "-c", f"print({CRASH_MESSAGE!r}); raise SystemExit(1)"]
                else:
                    argv = self._argv(container)
                code = self._execute(meta.uid, argv, env, run.log_path, deleting)
            run.exit_code, run.finished = code, time.time()
            self._patch_status(pod, self._terminated_status(pod, code, started, None, run.log_path))
        finally:
            with self._lock:
                self._procs.pop(meta.uid, None)
                self._active.pop(meta.uid, None)

    def _argv(self, container: client.V1Container) -> list[str]:
        argv = [*(container.command or []), *(container.args or [])]
        if argv and argv[0] in ("python", "python3"):
            argv[0] = self.python
        return argv

    def _execute(
        self,
        uid: str,
        argv: list[str],
        env: dict[str, str],
        log_path: Path,
        deleting: threading.Event,
    ) -> int:
        tmp = self.workdir / f"{uid}-tmp"
        tmp.mkdir(exist_ok=True)
        # The pod's emptyDir at /tmp: private to this run.
        env = {**env, "TMPDIR": str(tmp), "HOME": str(tmp)}
        with log_path.open("ab") as log:
            proc = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
            )
            with self._lock:
                self._procs[uid] = proc
            if deleting.is_set():
                _terminate(proc)
            code = proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)
        # Killed by a signal: the shell convention a container runtime reports.
        return 128 - code if code < 0 else code

    # -- environment, as a kubelet resolves it -------------------------------------

    def _environment(self, namespace: str, container: client.V1Container) -> dict[str, str]:
        env = {
            "PATH": f"{Path(self.python).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}",
            "LANG": "C.UTF-8",
        }
        for source in container.env_from or []:
            prefix = source.prefix or ""
            if source.config_map_ref is not None:
                data = self._config_map(namespace, source.config_map_ref.name)
            elif source.secret_ref is not None:
                data = self._secret(namespace, source.secret_ref.name)
            else:
                continue
            env.update({prefix + k: v for k, v in data.items()})
        for var in container.env or []:
            if var.value is not None:
                env[var.name] = var.value
            elif var.value_from is not None:
                ref = var.value_from
                if ref.config_map_key_ref is not None:
                    data = self._config_map(namespace, ref.config_map_key_ref.name)
                    env[var.name] = data[ref.config_map_key_ref.key]
                elif ref.secret_key_ref is not None:
                    data = self._secret(namespace, ref.secret_key_ref.name)
                    env[var.name] = data[ref.secret_key_ref.key]
                elif ref.field_ref is not None and ref.field_ref.field_path == "metadata.namespace":
                    env[var.name] = namespace
            else:
                env[var.name] = ""
        return env

    def _config_map(self, namespace: str, name: str) -> dict[str, str]:
        try:
            return dict(self.core.read_namespaced_config_map(name, namespace).data or {})
        except ApiException as exc:
            # The kubelet's words for it.
            raise ApiException(status=exc.status, reason=f'configmap "{name}" not found') from exc

    def _secret(self, namespace: str, name: str) -> dict[str, str]:
        try:
            data = self.core.read_namespaced_secret(name, namespace).data or {}
        except ApiException as exc:
            raise ApiException(status=exc.status, reason=f'secret "{name}" not found') from exc
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

    # -- pod status ----------------------------------------------------------------

    def _patch_status(self, pod: client.V1Pod, status: dict[str, Any]) -> None:
        with contextlib.suppress(ApiException):
            self.core.patch_namespaced_pod_status(
                pod.metadata.name,
                pod.metadata.namespace,
                {"status": status},
                _content_type="application/merge-patch+json",
            )

    @staticmethod
    def _conditions(ready: bool) -> list[dict[str, Any]]:
        now = _now()
        flag = "True" if ready else "False"
        return [
            {"type": "PodScheduled", "status": "True", "lastTransitionTime": now},
            {"type": "Initialized", "status": "True", "lastTransitionTime": now},
            {"type": "ContainersReady", "status": flag, "lastTransitionTime": now},
            {"type": "Ready", "status": flag, "lastTransitionTime": now},
        ]

    def _container_status(self, pod: client.V1Pod, state: dict[str, Any]) -> dict[str, Any]:
        container = pod.spec.containers[0]
        return {
            "name": container.name,
            "image": container.image,
            "imageID": "",
            "ready": "running" in state,
            "started": "running" in state,
            "restartCount": 0,
            "state": state,
        }

    def _running_status(self, pod: client.V1Pod, started: str) -> dict[str, Any]:
        return {
            "phase": "Running",
            "hostIP": "127.0.0.1",
            "podIP": "127.0.0.1",
            "startTime": started,
            "conditions": self._conditions(True),
            "containerStatuses": [self._container_status(pod, {"running": {"startedAt": started}})],
        }

    def _terminated_status(
        self,
        pod: client.V1Pod,
        code: int,
        started: str,
        reason: str | None,
        log_path: Path | None = None,
    ) -> dict[str, Any]:
        terminated: dict[str, Any] = {
            "exitCode": code,
            "reason": reason or ("Completed" if code == 0 else "Error"),
            "startedAt": started,
            "finishedAt": _now(),
        }
        if code != 0 and log_path is not None:
            # terminationMessagePolicy FallbackToLogsOnError: the log's tail.
            lines = log_path.read_text("utf-8", "replace").splitlines()[-20:]
            terminated["message"] = "\n".join(lines)[-2048:]
        return {
            "phase": "Succeeded" if code == 0 else "Failed",
            "conditions": self._conditions(False),
            "containerStatuses": [self._container_status(pod, {"terminated": terminated})],
        }

    def _waiting_status(self, pod: client.V1Pod, exc: ApiException) -> dict[str, Any]:
        waiting = {"reason": "CreateContainerConfigError", "message": str(exc.reason)}
        return {"containerStatuses": [self._container_status(pod, {"waiting": waiting})]}


def _terminate(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(KILL_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
