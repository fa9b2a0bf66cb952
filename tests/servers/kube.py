"""A real Kubernetes control plane for tests, with one fake (kwok) node.

Processes, all bound to 127.0.0.1 on free ports, data and logs in one temp dir:

* etcd (``--unsafe-no-fsync``: nothing here has to survive a power cut);
* kube-apiserver: token auth (an admin token in ``system:masters``),
  ``Node,RBAC`` authorization, a self-signed serving cert in ``--cert-dir``,
  one RSA key both to sign and to verify service-account tokens;
* kube-controller-manager: every default controller (job, ttl-after-finished,
  cronjob, garbage collector, service-account and token controllers, ...);
* kube-scheduler;
* kwok, which keeps the fake Node Ready (initialise + heartbeat Stages and a
  node Lease). It has *no* pod Stages: pods bound to the fake node stay
  Pending until something else (the project's executor) runs them.

Binaries come from ``.bin/`` (``scripts/build-k8s.sh`` builds them from the Go
module proxy; it is run here when one is missing).

    with KubeControlPlane() as kube:
        kube.kubeconfig_path, kube.server, kube.token, kube.ca_path
        kube.request("GET", "/api/v1/nodes")

Pods reach the fake node only with ``FAKE_NODE_SELECTOR`` and
``FAKE_NODE_TOLERATIONS`` (the node carries the usual kwok taint).
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from .process import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-k8s.sh"
BIN_DIR = ROOT / ".bin"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok")
TOOLS = (*BINARIES, "kubectl")

START_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# kube-controller-manager considers a node gone after --node-monitor-grace-period
# (50s) without a status update or Lease renewal; kwok renews every duration/4.
NODE_LEASE_SECONDS = 40

FAKE_NODE_NAME = "kwok-node-0"
FAKE_NODE_ANNOTATION = ("kwok.x-k8s.io/node", "fake")
FAKE_NODE_LABELS = {"type": "kwok"}
FAKE_NODE_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
# What a pod spec needs to land on the fake node.
FAKE_NODE_SELECTOR = dict(FAKE_NODE_LABELS)
FAKE_NODE_TOLERATIONS = [
    {"key": "kwok.x-k8s.io/node", "operator": "Exists", "effect": "NoSchedule"},
]

# kwok v0.8 ships no built-in Stages: these two keep a Node Ready (with the node
# Lease kwok renews). There is deliberately no Pod Stage: pods are left alone.
KWOK_STAGES = """\
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-initialize
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'NotIn'
      values:
      - 'True'
  next:
    statusTemplate: |
      {{ $now := Now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $now | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
      addresses:
      - address: {{ NodeName | Quote }}
        type: Hostname
      allocatable:
      {{ with .status.allocatable }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: "32"
        memory: 256Gi
        ephemeral-storage: 1Ti
        pods: "110"
      {{ end }}
      capacity:
      {{ with .status.capacity }}
      {{ YAML . 1 }}
      {{ else }}
        cpu: "32"
        memory: 256Gi
        ephemeral-storage: 1Ti
        pods: "110"
      {{ end }}
      nodeInfo:
        architecture: amd64
        operatingSystem: linux
        kubeletVersion: {{ printf "kwok-%s" Version | Quote }}
        kubeProxyVersion: {{ printf "kwok-%s" Version | Quote }}
        containerRuntimeVersion: {{ printf "kwok-%s" Version | Quote }}
        kernelVersion: {{ printf "kwok-%s" Version | Quote }}
        bootID: ""
        machineID: ""
        osImage: ""
        systemUUID: ""
      phase: Running
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: Stage
metadata:
  name: node-heartbeat
spec:
  resourceRef:
    apiGroup: v1
    kind: Node
  selector:
    matchExpressions:
    - key: '.status.phase'
      operator: 'In'
      values:
      - 'Running'
    - key: '.status.conditions.[] | select( .type == "Ready" ) | .status'
      operator: 'In'
      values:
      - 'True'
  delay:
    durationMilliseconds: 60000
    jitterDurationMilliseconds: 70000
  next:
    statusTemplate: |
      {{ $now := Now }}
      {{ $lastTransitionTime := or .metadata.creationTimestamp $now }}
      conditions:
      {{ range NodeConditions }}
      - lastHeartbeatTime: {{ $now | Quote }}
        lastTransitionTime: {{ $lastTransitionTime | Quote }}
        message: {{ .message | Quote }}
        reason: {{ .reason | Quote }}
        status: {{ .status | Quote }}
        type: {{ .type | Quote }}
      {{ end }}
"""


class KubeAPIError(RuntimeError):
    """A non-2xx answer from the API server."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        super().__init__(f"{method} {path}: HTTP {status}: {body[:2000]}")
        self.status = status
        self.body = body


def kube_binaries() -> dict[str, Path]:
    """Paths of the control-plane binaries in .bin/, building them first when missing."""

    def missing() -> list[str]:
        return [b for b in TOOLS if not os.access(BIN_DIR / b, os.X_OK)]

    if missing():
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
        if still := missing():
            raise RuntimeError(f"{BUILD_SCRIPT} ran but {still} are not in {BIN_DIR}")
    return {b: BIN_DIR / b for b in BINARIES}


def _unverified_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class KubeControlPlane:
    """etcd + kube-apiserver + controller-manager + scheduler + kwok; a context manager.

    Attributes once started: ``server`` (https URL), ``token`` (admin bearer
    token, group system:masters), ``ca_path`` (PEM that verifies ``server``),
    ``kubeconfig_path``, ``node_name`` (the fake node), ``workdir`` (data and
    one ``<component>.log`` each).
    """

    def __init__(
        self,
        *,
        node_name: str = FAKE_NODE_NAME,
        use_service_account_credentials: bool = True,
        keep_workdir: bool = False,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        self.binaries = kube_binaries()
        self.node_name = node_name
        self.use_service_account_credentials = use_service_account_credentials
        self.keep_workdir = keep_workdir or bool(os.environ.get("MINI_KUBE_KEEP"))
        self.start_timeout = start_timeout
        self.workdir = Path(tempfile.mkdtemp(prefix="kube-"))
        self.token = secrets.token_urlsafe(32)
        (
            self.etcd_port,
            self.etcd_peer_port,
            self.apiserver_port,
            self.controller_manager_port,
            self.scheduler_port,
        ) = free_ports(5)
        self.etcd_url = f"http://127.0.0.1:{self.etcd_port}"
        self.server = f"https://127.0.0.1:{self.apiserver_port}"
        self.cert_dir = self.workdir / "apiserver-certs"
        # The apiserver writes a self-signed serving cert followed by its CA here.
        self.ca_path = self.cert_dir / "apiserver.crt"
        self.kubeconfig_path = self.workdir / "kubeconfig"
        self.sa_key_path = self.workdir / "sa.key"
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._ssl: ssl.SSLContext | None = None
        self._started = False
        self._stopped = False
        atexit.register(self.stop)

    # -- files ---------------------------------------------------------------------

    def _write_files(self) -> None:
        self.cert_dir.mkdir()
        for d in ("etcd", "kcm-certs", "scheduler-certs", "kwok-home"):
            (self.workdir / d).mkdir(mode=0o700)
        tokens = self.workdir / "tokens.csv"
        tokens.write_text(f'{self.token},admin,admin-uid,"system:masters"\n')
        tokens.chmod(0o600)
        subprocess.run(
            [
                "openssl",
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                str(self.sa_key_path),
            ],
            check=True,
            capture_output=True,
        )
        self.sa_key_path.chmod(0o600)
        (self.workdir / "kwok-stages.yaml").write_text(KWOK_STAGES)
        self._write_kubeconfig()

    def _write_kubeconfig(self) -> None:
        # JSON is YAML; kubectl, client-go and the Python client all read it.
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "mini",
                    "cluster": {"server": self.server, "certificate-authority": str(self.ca_path)},
                }
            ],
            "users": [{"name": "admin", "user": {"token": self.token}}],
            "contexts": [{"name": "mini", "context": {"cluster": "mini", "user": "admin"}}],
            "current-context": "mini",
        }
        self.kubeconfig_path.write_text(json.dumps(config, indent=2) + "\n")
        self.kubeconfig_path.chmod(0o600)

    # -- commands ------------------------------------------------------------------

    def _commands(self) -> dict[str, list[str]]:
        b = {k: str(v) for k, v in self.binaries.items()}
        peer = f"http://127.0.0.1:{self.etcd_peer_port}"
        kubeconfig = str(self.kubeconfig_path)
        return {
            "etcd": [
                b["etcd"],
                "--name=mini",
                f"--data-dir={self.workdir / 'etcd'}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=mini={peer}",
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            "kube-apiserver": [
                b["kube-apiserver"],
                f"--etcd-servers={self.etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.apiserver_port}",
                f"--cert-dir={self.cert_dir}",
                f"--token-auth-file={self.workdir / 'tokens.csv'}",
                "--authorization-mode=Node,RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self.sa_key_path}",
                f"--service-account-signing-key-file={self.sa_key_path}",
                f"--service-cluster-ip-range={SERVICE_CLUSTER_IP_RANGE}",
                "--allow-privileged=true",
                # The default reconciler would publish 127.0.0.1 as the endpoint
                # of the 'kubernetes' Service, which validation rejects (every 10s).
                "--endpoint-reconciler-type=none",
                # Nodes here list 127.0.0.1 as their InternalIP (the real kubelet of
                # tests/servers/node.py too): reach them there, never by host name.
                "--kubelet-preferred-address-types=InternalIP",
                "--profiling=false",
            ],
            "kube-controller-manager": [
                b["kube-controller-manager"],
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.controller_manager_port}",
                f"--cert-dir={self.workdir / 'kcm-certs'}",
                # '*' = every on-by-default controller, which includes job,
                # ttl-after-finished, cronjob, garbage-collector, serviceaccount
                # and serviceaccount-token (the latter runs because a key is given).
                "--controllers=*",
                f"--service-account-private-key-file={self.sa_key_path}",
                f"--root-ca-file={self.ca_path}",
                f"--use-service-account-credentials={str(self.use_service_account_credentials).lower()}",
                "--leader-elect=false",
                "--profiling=false",
            ],
            "kube-scheduler": [
                b["kube-scheduler"],
                f"--kubeconfig={kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.scheduler_port}",
                f"--cert-dir={self.workdir / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
            "kwok": [
                b["kwok"],
                f"--kubeconfig={kubeconfig}",
                f"--config={self.workdir / 'kwok-stages.yaml'}",
                "--manage-nodes-with-annotation-selector="
                f"{FAKE_NODE_ANNOTATION[0]}={FAKE_NODE_ANNOTATION[1]}",
                f"--node-lease-duration-seconds={NODE_LEASE_SECONDS}",
            ],
        }

    def log_path(self, component: str) -> Path:
        return self.workdir / f"{component}.log"

    def _spawn(self, component: str, command: list[str]) -> None:
        env = dict(os.environ)
        if component == "kwok":
            # kwok also loads ~/.kwok/kwok.yaml when it exists: keep the user's out.
            env["HOME"] = str(self.workdir / "kwok-home")
        with self.log_path(component).open("ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {' '.join(command)}\n".encode())
            log.flush()
            self._procs[component] = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> KubeControlPlane:
        if self._started:
            raise RuntimeError("KubeControlPlane can be started once")
        self._started = True
        deadline = time.monotonic() + self.start_timeout
        try:
            self._write_files()
            commands = self._commands()
            self._spawn("etcd", commands["etcd"])
            self._wait("etcd health", deadline, self._etcd_healthy)
            self._spawn("kube-apiserver", commands["kube-apiserver"])
            self._wait("kube-apiserver /readyz", deadline, self._apiserver_ready)
            self._ssl = ssl.create_default_context(cafile=str(self.ca_path))
            for component in ("kube-controller-manager", "kube-scheduler", "kwok"):
                self._spawn(component, commands[component])
            self.request("POST", "/api/v1/nodes", self._fake_node())
            self._wait(
                "kube-controller-manager /healthz",
                deadline,
                lambda: self._component_healthy(self.controller_manager_port),
            )
            self._wait(
                "kube-scheduler /healthz",
                deadline,
                lambda: self._component_healthy(self.scheduler_port),
            )
            self._wait(f"node {self.node_name} Ready and untainted", deadline, self._node_ready)
            # The service-account controller runs: namespaces get their 'default' SA.
            self._wait(
                "ServiceAccount default/default",
                deadline,
                lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            )
        except BaseException as exc:
            self.keep_workdir = True  # logs stay for a look
            self.stop()
            if isinstance(exc, Exception):
                raise RuntimeError(
                    f"Kubernetes control plane did not start: {exc}\n{self.log_tails()}"
                ) from exc
            raise
        return self

    def _wait(self, what: str, deadline: float, ready: Callable[[], bool]) -> None:
        last: BaseException | None = None
        while time.monotonic() < deadline:
            for name, proc in self._procs.items():
                if proc.poll() is not None:
                    raise RuntimeError(
                        f"{name} exited with code {proc.returncode} while waiting for {what}"
                    )
            try:
                if ready():
                    return
            except Exception as exc:  # not up yet
                last = exc
            time.sleep(0.2)
        raise TimeoutError(f"timed out waiting for {what} (last error: {last!r})")

    def _etcd_healthy(self) -> bool:
        with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")

    def _apiserver_ready(self) -> bool:
        req = urllib.request.Request(
            f"{self.server}/readyz", headers={"Authorization": f"Bearer {self.token}"}
        )
        with urllib.request.urlopen(req, context=_unverified_context(), timeout=5) as resp:
            return bool(resp.status == 200 and self.ca_path.is_file())

    @staticmethod
    def _component_healthy(port: int) -> bool:
        url = f"https://127.0.0.1:{port}/healthz"
        with urllib.request.urlopen(url, context=_unverified_context(), timeout=5) as resp:
            return bool(resp.status == 200)

    def _node_ready(self) -> bool:
        node = self.request("GET", f"/api/v1/nodes/{self.node_name}")
        conditions = node.get("status", {}).get("conditions", [])
        ready = any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)
        taints = {t["key"] for t in node.get("spec", {}).get("taints", [])}
        return ready and not any(k.startswith("node.kubernetes.io/") for k in taints)

    def _exists(self, path: str) -> bool:
        try:
            self.request("GET", path)
        except KubeAPIError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def _fake_node(self) -> dict[str, Any]:
        resources = {"cpu": "32", "memory": "256Gi", "ephemeral-storage": "1Ti", "pods": "110"}
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.node_name,
                "annotations": {FAKE_NODE_ANNOTATION[0]: FAKE_NODE_ANNOTATION[1]},
                "labels": {
                    **FAKE_NODE_LABELS,
                    "kubernetes.io/hostname": self.node_name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                    "node-role.kubernetes.io/agent": "",
                },
            },
            "spec": {"taints": [FAKE_NODE_TAINT]},
            "status": {"allocatable": resources, "capacity": resources},
        }

    def stop(self) -> None:
        """Stop every component, clients first, then the apiserver, then etcd; idempotent.

        Each step is SIGTERM, then SIGKILL after STOP_TIMEOUT seconds.
        """
        if self._stopped:
            return
        self._stopped = True
        atexit.unregister(self.stop)
        for group in (
            ("kwok", "kube-scheduler", "kube-controller-manager"),
            ("kube-apiserver",),
            ("etcd",),
        ):
            procs = [self._procs[c] for c in group if c in self._procs]
            for proc in procs:
                if proc.poll() is None:
                    proc.terminate()
            for proc in procs:
                try:
                    proc.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if not self.keep_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    close = stop

    @property
    def running(self) -> bool:
        return bool(self._procs) and all(p.poll() is None for p in self._procs.values())

    # -- helpers for tests ---------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        timeout: float = 30.0,
        content_type: str = "application/json",
    ) -> Any:
        """One API call with the admin token; returns the decoded JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/json",
                "Content-Type": content_type,
            },
        )
        ctx = self._ssl or _unverified_context()
        try:
            with urllib.request.urlopen(req, context=ctx, timeout=timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            raise KubeAPIError(
                method, path, exc.code, exc.read().decode(errors="replace")
            ) from None
        return json.loads(raw) if raw else None

    def env(self) -> dict[str, str]:
        """Environment variables that point kubectl / client libraries here."""
        return {"KUBECONFIG": str(self.kubeconfig_path)}

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run .bin/kubectl against this cluster."""
        return subprocess.run(
            [str(BIN_DIR / "kubectl"), f"--kubeconfig={self.kubeconfig_path}", *args],
            check=check,
            capture_output=True,
            text=True,
        )

    def log_tails(self, lines: int = 40) -> str:
        parts = []
        for component in BINARIES:
            path = self.log_path(component)
            if not path.exists():
                continue
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- last {len(text)} lines of {path} ---\n" + "\n".join(text))
        return "\n".join(parts) or f"(no logs in {self.workdir})"

    def __enter__(self) -> KubeControlPlane:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<KubeControlPlane {self.server} {state} {self.workdir}>"
