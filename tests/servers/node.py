"""A real Kubernetes node for tests: kubelet + containerd (CRI) + runc, registered with
a `KubeControlPlane`.

* kubelet is built from the same Kubernetes source and version as the control
  plane (`scripts/build-node.sh` -> `scripts/build-k8s.sh` with WITH_KUBELET=1).
* containerd and runc are Debian's; containerd runs privately (`Containerd(cri=True)`)
  with a locally built pause image as its sandbox image, and a loopback-only CNI
  network for pods that are not hostNetwork.
* Images go in with `ctr -n k8s.io images import`, as `make import` does on MicroK8s.
* cgroups are v1 on these machines: the kubelet config says `failCgroupV1: false`.

All traffic stays on loopback: the kubelet listens on 127.0.0.1, registers
127.0.0.1 as its address, and `HostNetworkWebhook` (a mutating admission webhook
on 127.0.0.1, test-only) puts the pods of one namespace on the host network, so
they reach the test's servers on 127.0.0.1 and nothing else.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import http.server
import json
import os
import shutil
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar

from .containerd import Containerd, docker_ref
from .kube import BIN_DIR, KubeAPIError, KubeControlPlane
from .process import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-node.sh"
NODE_ENV = ROOT / ".bin" / "node.env"
NODE_NAME = "mini-node"
READY_TIMEOUT = 120.0


def node_build() -> dict[str, str]:
    """kubelet and the pause image, built when missing; PAUSE_IMAGE and PAUSE_ARCHIVE."""
    start = time.monotonic()
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    env = dict(line.split("=", 1) for line in NODE_ENV.read_text().splitlines() if "=" in line)
    env["BUILD_SECONDS"] = f"{time.monotonic() - start:.1f}"
    return env


class RealNode:
    """kubelet + private containerd, as node `mini-node` of `kube`; a context manager."""

    def __init__(self, kube: KubeControlPlane, *, node_name: str = NODE_NAME) -> None:
        self.kube = kube
        self.node_name = node_name
        self.build = node_build()
        self.kubelet_bin = BIN_DIR / "kubelet"
        self.workdir = Path(tempfile.mkdtemp(prefix="kubelet-"))
        self.containerd = Containerd(cri=True, sandbox_image=docker_ref(self.build["PAUSE_IMAGE"]))
        self.kubelet_port, self.healthz_port = free_ports(2)
        self.log_path = self.workdir / "kubelet.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self.keep = bool(os.environ.get("MINI_KUBE_KEEP"))
        atexit.register(self.stop)

    def _config(self) -> str:
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            "address": "127.0.0.1",
            "port": self.kubelet_port,
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.healthz_port,
            # Loopback only, test-only: the apiserver fetches logs without a client cert.
            "authentication": {"anonymous": {"enabled": True}, "webhook": {"enabled": False}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs",
            # cgroup v1 (hybrid) on these machines; 1.35 refuses it unless told.
            "failCgroupV1": False,
            "failSwapOn": False,
            # The node is the whole machine, shared with other tests: no QoS
            # cgroup tree, no allocatable enforcement, no evictions for a busy disk.
            "cgroupsPerQOS": False,
            "enforceNodeAllocatable": [],
            "evictionHard": {
                "memory.available": "1Mi",
                "nodefs.available": "1%",
                "nodefs.inodesFree": "1%",
                "imagefs.available": "1%",
            },
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            "containerRuntimeEndpoint": f"unix://{self.containerd.socket}",
            "serializeImagePulls": False,
            "registerNode": True,
            "nodeStatusUpdateFrequency": "4s",
            "syncFrequency": "10s",
            "resolvConf": "/etc/resolv.conf",
            "kubeAPIQPS": 50,
            "kubeAPIBurst": 100,
            "maxPods": 30,
            "podPidsLimit": 4096,
        }
        return json.dumps(config, indent=2)

    def start(self) -> RealNode:
        self.containerd.start()
        self.containerd.import_image(Path(self.build["PAUSE_ARCHIVE"]), self.build["PAUSE_IMAGE"])
        config_path = self.workdir / "kubelet.json"
        config_path.write_text(self._config())
        command = [
            str(self.kubelet_bin),
            f"--config={config_path}",
            f"--kubeconfig={self.kube.kubeconfig_path}",
            f"--hostname-override={self.node_name}",
            "--node-ip=127.0.0.1",
            f"--root-dir={self.workdir / 'root'}",
            f"--cert-dir={self.workdir / 'pki'}",
            "--v=2",
        ]
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"kubelet exited {self._proc.returncode}:\n{self.log_tail()}")
            if self.ready():
                self._publish_loopback()
                threading.Thread(target=self._address_loop, daemon=True).start()
                return self
            time.sleep(0.5)
        raise RuntimeError(
            f"node {self.node_name} not Ready in {READY_TIMEOUT}s:\n{self.log_tail()}"
        )

    def _publish_loopback(self) -> None:
        # The kubelet refuses to publish a loopback node IP; the apiserver reaches
        # it (pods/log) at the node's InternalIP, so the node lists 127.0.0.1.
        self.kube.request(
            "PATCH",
            f"/api/v1/nodes/{self.node_name}/status",
            {
                "status": {
                    "addresses": [
                        {"type": "InternalIP", "address": "127.0.0.1"},
                        {"type": "Hostname", "address": self.node_name},
                    ]
                }
            },
            content_type="application/merge-patch+json",
        )

    def _address_loop(self) -> None:
        while self._proc is not None:
            with contextlib.suppress(Exception):
                node = self.kube.request("GET", f"/api/v1/nodes/{self.node_name}")
                addresses = node.get("status", {}).get("addresses", [])
                if {"type": "InternalIP", "address": "127.0.0.1"} not in addresses:
                    self._publish_loopback()
            time.sleep(1)

    def ready(self) -> bool:
        try:
            node = self.kube.request("GET", f"/api/v1/nodes/{self.node_name}")
        except KubeAPIError:
            return False
        conditions = node.get("status", {}).get("conditions", [])
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    def log_tail(self, lines: int = 60) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        return ""

    def container_pids(self, pod_uid: str) -> list[int]:
        """Host PIDs of the (non-sandbox) containers of one pod, from containerd."""
        out = self.containerd.ctr("containers", "list", "-q").stdout.decode().split()
        pids: list[int] = []
        for cid in out:
            info = json.loads(self.containerd.ctr("containers", "info", cid).stdout)
            labels = info.get("Labels", {})
            if labels.get("io.kubernetes.pod.uid") != pod_uid:
                continue
            if labels.get("io.cri-containerd.kind") != "container":
                continue
            task = self.containerd.ctr("tasks", "ps", cid, check=False).stdout.decode().split()
            pids += [int(p) for p in task[2::2] if p.isdigit()]
        return pids

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.containerd.stop()
        if not self.keep:
            with contextlib.suppress(Exception):
                subprocess.run(
                    f"grep -o ' {self.workdir}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l",
                    shell=True,
                    check=False,
                    capture_output=True,
                )
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> RealNode:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class _Mutate(http.server.BaseHTTPRequestHandler):
    patch: ClassVar[list[dict[str, Any]]] = []

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        review = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        answer = {
            "apiVersion": "admission.k8s.io/v1",
            "kind": "AdmissionReview",
            "response": {
                "uid": review["request"]["uid"],
                "allowed": True,
                "patchType": "JSONPatch",
                "patch": base64.b64encode(json.dumps(self.patch).encode()).decode(),
            },
        }
        body = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HostNetworkWebhook:
    """Test-only mutating webhook: every pod created in `namespace` runs on the host
    network, with `hostAliases` mapping the deployment's service names to 127.0.0.1
    (`aliases`) or to other loopback addresses (`host_aliases`).

    Stands in for what a pod network and Services give a real cluster; the
    namespace must not enforce Pod Security `baseline` or `restricted`.
    """

    def __init__(
        self,
        kube: KubeControlPlane,
        namespace: str,
        aliases: list[str],
        host_aliases: dict[str, list[str]] | None = None,
    ) -> None:
        self.kube = kube
        self.namespace = namespace
        self.workdir = Path(tempfile.mkdtemp(prefix="webhook-"))
        self.name = f"mini-hostnetwork-{namespace}"
        patch = [
            {"op": "add", "path": "/spec/hostNetwork", "value": True},
            {"op": "add", "path": "/spec/dnsPolicy", "value": "ClusterFirstWithHostNet"},
        ]
        # A loopback address of its own per service (host_aliases: address -> names)
        # lets each keep its real port on the one host network.
        entries = {**({"127.0.0.1": aliases} if aliases else {}), **(host_aliases or {})}
        if entries:
            patch.append(
                {
                    "op": "add",
                    "path": "/spec/hostAliases",
                    "value": [{"ip": ip, "hostnames": names} for ip, names in entries.items()],
                }
            )
        self.handler = type("Handler", (_Mutate,), {"patch": patch})
        self._server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> HostNetworkWebhook:
        cert, key = self.workdir / "tls.crt", self.workdir / "tls.key"
        subprocess.run(
            [
                "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                "-keyout", str(key), "-out", str(cert),
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), self.handler)
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        tls.load_cert_chain(str(cert), str(key))
        server.socket = tls.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, daemon=True).start()
        self._server = server
        port = server.server_address[1]
        self.kube.request(
            "POST",
            "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations",
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "MutatingWebhookConfiguration",
                "metadata": {"name": self.name},
                "webhooks": [
                    {
                        "name": "hostnetwork.mini-pipeline.test",
                        "clientConfig": {
                            "url": f"https://127.0.0.1:{port}/mutate",
                            "caBundle": base64.b64encode(cert.read_bytes()).decode(),
                        },
                        "rules": [
                            {
                                "operations": ["CREATE"],
                                "apiGroups": [""],
                                "apiVersions": ["v1"],
                                "resources": ["pods"],
                            }
                        ],
                        "namespaceSelector": {
                            "matchLabels": {"kubernetes.io/metadata.name": self.namespace}
                        },
                        "failurePolicy": "Fail",
                        "sideEffects": "None",
                        "admissionReviewVersions": ["v1"],
                        "timeoutSeconds": 5,
                    }
                ],
            },
        )
        return self

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.kube.request(
                "DELETE",
                f"/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{self.name}",
            )
        if self._server is not None:
            self._server.shutdown()
            self._server = None
        shutil.rmtree(self.workdir, ignore_errors=True)
