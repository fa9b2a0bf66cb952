"""The images as real pods on a real kubelet (tests/servers/node.py), end to end.

One control plane for this module, one real node (kubelet from the same
Kubernetes source, containerd + runc, a local pause image), both images built from
the Dockerfiles (`make images`) and loaded with `ctr -n k8s.io images import` as
`make import` loads them into MicroK8s. The API runs as the real
`Deployment/mini-api` from the rendered MicroK8s overlay (one replica), with its
in-cluster ServiceAccount token and no kubeconfig; it launches the processor Jobs,
which run the processor image. S3 is SeaweedFS and the catalog PostgreSQL, both on
127.0.0.1.

Test-only differences from a cluster, all for the loopback-only rule: the pods run
on the host network (a mutating webhook on 127.0.0.1 adds `hostNetwork`; so the
namespace enforces Pod Security `privileged` here, where `restricted` is tested
elsewhere), the API listens on a free port, and `KUBERNETES_SERVICE_HOST`/`_PORT`
name the apiserver on 127.0.0.1.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import s3_env
from tests.servers.images import built_images
from tests.servers.kube import KubeAPIError, KubeControlPlane
from tests.servers.node import HostNetworkWebhook, RealNode
from tests.servers.postgres import PostgresServer
from tests.servers.process import free_ports
from tests.servers.seaweed import SeaweedS3

from .manifests import NAMESPACE, ROOT, Manifest, find, kubectl_on

pytestmark = pytest.mark.skipif(
    os.environ.get("MINI_REAL_NODE", "1") == "0", reason="MINI_REAL_NODE=0"
)

GOOD_CSV = b"id;name;score\n1;alpha;1.5\n2;beta;2.5\n3;gamma;3.5\n"
# A header row is asked for where there is none: BadInput, exit code 2.
SHORT_CSV = b"id,name\n1,a\n"
# ~40 MB: the processor runs for seconds, long enough to be caught running.
BIG_ROWS = 1_000_000
NS = f"/api/v1/namespaces/{NAMESPACE}"
BATCH = f"/apis/batch/v1/namespaces/{NAMESPACE}"


def big_csv(rows: int) -> bytes:
    lines = ["id,name,amount,when"] + [
        f"{i},name-{i % 997},{i * 1.25:.2f},2024-01-{1 + i % 28:02d}" for i in range(rows)
    ]
    return ("\n".join(lines) + "\n").encode()


@dataclass
class Node:
    kube: KubeControlPlane
    node: RealNode
    api_url: str
    processor_ref: str
    api_ref: str

    def get(self, path: str) -> Any:
        return self.kube.request("GET", path)

    def pods(self, selector: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.get(f"{NS}/pods?labelSelector={selector}")["items"]
        return sorted(items, key=lambda p: p["metadata"]["creationTimestamp"])

    def dataset_pods(self, dataset_id: str) -> list[dict[str, Any]]:
        return self.pods(f"mini-pipeline/dataset-id={dataset_id}")

    def job(self, dataset_id: str) -> dict[str, Any] | None:
        try:
            job: dict[str, Any] = self.get(f"{BATCH}/jobs/mini-proc-{dataset_id}")
            return job
        except KubeAPIError as exc:
            if exc.status == 404:
                return None
            raise


def wait_for(what: str, check: Any, timeout: float = 120.0, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def api_deployment(
    rendered: list[Manifest], api_ref: str, processor_ref: str, port: int, apiserver_port: int
) -> Manifest:
    """The overlay's Deployment/mini-api, as is but for the test-only differences."""
    deployment = copy.deepcopy(find(rendered, "Deployment", "mini-api"))
    deployment["spec"]["replicas"] = 1
    spec = deployment["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    container["image"] = api_ref
    container["imagePullPolicy"] = "Never"
    container["ports"] = [{"name": "http", "containerPort": port}]
    container["env"] += [
        {"name": "KUBERNETES_SERVICE_HOST", "value": "127.0.0.1"},
        {"name": "KUBERNETES_SERVICE_PORT", "value": str(apiserver_port)},
        {"name": "MINI_HOST", "value": "127.0.0.1"},
        {"name": "MINI_PORT", "value": str(port)},
        {"name": "MINI_RUNNER__KUBERNETES__IMAGE", "value": processor_ref},
        {"name": "MINI_RUNNER__KUBERNETES__IMAGE_PULL_POLICY", "value": "Never"},
        {"name": "MINI_RUNNER__KUBERNETES__POLL_SECONDS", "value": "3"},
    ]
    spec["terminationGracePeriodSeconds"] = 5
    return deployment


@pytest.fixture(scope="module")
def real(
    kube: KubeControlPlane,
    seaweed: SeaweedS3,
    postgres: PostgresServer,
    rendered: list[Manifest],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Node]:
    start = time.monotonic()
    images = built_images()
    built = time.monotonic()
    with RealNode(kube) as node:
        ready = time.monotonic()
        refs = {k: node.containerd.import_image(i.archive, i.name) for k, i in images.items()}
        imported = time.monotonic()
        print(
            f"\nreal node: images {built - start:.1f}s (cached unless the inputs changed),"
            f" kubelet + pause build {node.build['BUILD_SECONDS']}s, node Ready"
            f" {ready - built:.1f}s, ctr images import {imported - ready:.1f}s"
        )
        kubectl = kube.kubeconfig_path
        kubectl_on(kubectl, "apply", "-f", str(ROOT / "k8s" / "base" / "namespace.yaml"))
        # hostNetwork (test-only, for the loopback rule) is not "restricted".
        kubectl_on(
            kubectl, "label", "--overwrite", "namespace", NAMESPACE,
            "pod-security.kubernetes.io/enforce=privileged",
        )  # fmt: skip
        kubectl_on(kubectl, "apply", "-f", str(ROOT / "k8s" / "base" / "rbac.yaml"))
        webhook = HostNetworkWebhook(kube, NAMESPACE, aliases=[]).start()
        suffix = os.urandom(4).hex()
        storage = s3_env(
            seaweed,
            MINI_STORAGE__RAW_BUCKET=f"node-raw-{suffix}",
            MINI_STORAGE__PROCESSED_BUCKET=f"node-processed-{suffix}",
        )
        config = find(rendered, "ConfigMap", "mini-config")["data"]
        public = {
            **{k: v for k, v in config.items() if not k.startswith("MINI_STORAGE__")},
            **{k: v for k, v in storage.items() if "KEY" not in k},
            "MINI_RUNNER__KUBERNETES__ACTIVE_DEADLINE_SECONDS": "300",
        }
        database = postgres.create_database()
        secret = {
            "MINI_STORAGE__ACCESS_KEY": storage["MINI_STORAGE__ACCESS_KEY"],
            "MINI_STORAGE__SECRET_KEY": storage["MINI_STORAGE__SECRET_KEY"],
            "MINI_DATABASE_URL": postgres.url(database),
        }
        kube.request(
            "POST",
            f"{NS}/configmaps",
            {"metadata": {"name": "mini-config"}, "data": public},
        )
        kube.request(
            "POST",
            f"{NS}/secrets",
            {
                "metadata": {"name": "mini-secrets"},
                "data": {k: base64.b64encode(v.encode()).decode() for k, v in secret.items()},
            },
        )
        # The processor Jobs' own Secret: the S3 keys only (as make deploy splits it).
        kube.request(
            "POST",
            f"{NS}/secrets",
            {
                "metadata": {"name": "mini-processor-secrets"},
                "data": {
                    k: base64.b64encode(v.encode()).decode()
                    for k, v in secret.items()
                    if k.startswith("MINI_STORAGE__")
                },
            },
        )
        (port,) = free_ports(1)
        apiserver_port = int(kube.server.rsplit(":", 1)[1])
        deployment = api_deployment(rendered, refs["api"], refs["processor"], port, apiserver_port)
        kube.request("POST", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments", deployment)
        found = Node(kube, node, f"http://127.0.0.1:{port}", refs["processor"], refs["api"])
        try:
            wait_for("the API pod to be ready", lambda: _api_ready(found), timeout=180)
        except TimeoutError:
            raise AssertionError(diagnose(found)) from None
        print(f"real node: API Deployment ready {time.monotonic() - imported:.1f}s after import")
        try:
            yield found
        finally:
            print(f"\nreal node: suite took {time.monotonic() - start:.1f}s in all")
            with open(node.workdir / "kubelet.log", "rb") as fh:
                tail = fh.read()[-4000:].decode("utf-8", "replace")
            if os.environ.get("MINI_REAL_NODE_LOG"):
                print(tail)
            webhook.stop()
            with_grace = {"gracePeriodSeconds": 0, "propagationPolicy": "Background"}
            with contextlib.suppress(KubeAPIError):
                kube.request(
                    "DELETE",
                    f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/mini-api",
                    with_grace,
                )


def diagnose(found: Node) -> str:
    """Pods, their statuses and events, and the kubelet's last lines."""
    parts = []
    for pod in found.get(f"{NS}/pods")["items"]:
        parts.append(f"pod {pod['metadata']['name']}: {json.dumps(pod.get('status'))[:3000]}")
    for event in found.get(f"{NS}/events")["items"][-30:]:
        parts.append(f"event {event.get('reason')}: {event.get('message')}")
    parts.append(found.node.log_tail(80))
    return "\n".join(parts)


def _api_ready(found: Node) -> bool:
    pods = found.pods("app.kubernetes.io/component=api")
    live = [p for p in pods if not p["metadata"].get("deletionTimestamp")]
    if not live or not all(
        c["type"] != "Ready" or c["status"] == "True"
        for c in live[-1].get("status", {}).get("conditions", [{"type": "Ready", "status": "x"}])
    ):
        return False
    try:
        return httpx.get(f"{found.api_url}/readyz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def upload(api: httpx.Client, data: bytes, **params: Any) -> str:
    r = api.post("/upload", files={"file": ("data.csv", data)}, params=params)
    assert r.status_code == 202, r.text
    dataset_id: str = r.json()["id"]
    return dataset_id


def final(api: httpx.Client, dataset_id: str, timeout: float = 180.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        try:
            body: dict[str, Any] = api.get(f"/datasets/{dataset_id}/status").json()
        except (httpx.HTTPError, ValueError):
            return None  # the API pod may be restarting
        return body if body["status"] in ("ready", "failed") else None

    result: dict[str, Any] = wait_for(f"{dataset_id} to be final", check, timeout, every=0.05)
    return result


def terminated(pod: dict[str, Any]) -> dict[str, Any] | None:
    for status in pod.get("status", {}).get("containerStatuses", []):
        state: dict[str, Any] | None = status.get("state", {}).get("terminated")
        if state:
            return state
    return None


def test_upload_runs_a_job_pod_of_the_processor_image_to_ready(real: Node) -> None:
    with httpx.Client(base_url=real.api_url, timeout=30) as api:
        started = time.monotonic()
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        status = final(api, dataset_id)
        elapsed = time.monotonic() - started
        assert status["status"] == "ready", status
        rows = api.get(f"/datasets/{dataset_id}").json()["rows"]
        logs = api.get(f"/datasets/{dataset_id}/logs").text.splitlines()
    assert rows[0] == {"id": 1, "name": "alpha", "score": 1.5} and len(rows) == 3
    # Read through pods/log: the apiserver fetched them from the kubelet.
    assert logs[0].startswith("--- pod mini-proc-") and "exit code 0" in logs[0]
    assert f"dataset {dataset_id} ready: 3 rows in, 3 out, 0 rejected" in logs[-1]
    (pod,) = real.dataset_pods(dataset_id)
    assert pod["spec"]["nodeName"] == "mini-node"
    (container,) = pod["status"]["containerStatuses"]
    assert container["image"] == real.processor_ref
    state = terminated(pod)
    assert state is not None and state["exitCode"] == 0
    print(f"\nreal node: tiny CSV upload -> ready {elapsed:.2f}s (Job, pod, processor, watch)")
    # The API created the Job with its in-cluster ServiceAccount token: its pod has no
    # kubeconfig setting and the projected token volume the ServiceAccount admission adds.
    (api_pod,) = [
        p
        for p in real.pods("app.kubernetes.io/component=api")
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert api_pod["spec"]["serviceAccountName"] == "mini-api"
    env = {e["name"] for e in api_pod["spec"]["containers"][0].get("env", [])}
    assert "MINI_RUNNER__KUBERNETES__KUBECONFIG" not in env
    mounts = {m["mountPath"] for m in api_pod["spec"]["containers"][0]["volumeMounts"]}
    assert "/var/run/secrets/kubernetes.io/serviceaccount" in mounts


def test_bad_file_exits_2_and_fails_the_job_with_the_processors_message(real: Node) -> None:
    with httpx.Client(base_url=real.api_url, timeout=30) as api:
        dataset_id = upload(api, SHORT_CSV, header_row=5)
        status = final(api, dataset_id)
    assert status["status"] == "failed"
    assert status["error"] and "header" in status["error"].lower(), status
    pods = real.dataset_pods(dataset_id)
    assert len(pods) == 1, "exit code 2 is never retried (podFailurePolicy FailJob)"
    state = terminated(pods[0])
    assert state is not None and state["exitCode"] == 2
    job = real.job(dataset_id)
    assert job is not None
    reasons = {c["type"]: c.get("reason") for c in job["status"]["conditions"]}
    assert reasons.get("Failed") == "PodFailurePolicy", reasons


def _running_processor(real: Node, dataset_id: str) -> tuple[dict[str, Any], list[int]]:
    # Straight from containerd: the pod's phase reaches the apiserver later.
    def running() -> tuple[dict[str, Any], list[int]] | None:
        for pod in real.dataset_pods(dataset_id):
            if terminated(pod):
                continue
            pids = real.node.container_pids(pod["metadata"]["uid"])
            if pids:
                return pod, pids
        return None

    found: tuple[dict[str, Any], list[int]] = wait_for("a running processor", running, 120, 0.05)
    return found


def test_processor_runs_as_10001_on_a_read_only_root_and_a_killed_pod_is_retried(
    real: Node,
) -> None:
    data = big_csv(BIG_ROWS)
    with httpx.Client(base_url=real.api_url, timeout=60) as api:
        dataset_id = upload(api, data)
        pod, pids = _running_processor(real, dataset_id)
        pid = pids[0]
        status = Path(f"/proc/{pid}/status").read_text().splitlines()
        uid = next(line.split()[1:] for line in status if line.startswith("Uid:"))
        gid = next(line.split()[1:] for line in status if line.startswith("Gid:"))
        root = next(
            line.split()
            for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines()
            if line.split()[4] == "/"
        )
        os.kill(pid, signal.SIGKILL)
        status_body = final(api, dataset_id, timeout=300)
    assert set(uid) == {"10001"} and set(gid) == {"10001"}, (uid, gid)
    assert "ro" in root[5].split(","), f"root mount options {root[5]}"
    assert status_body["status"] == "ready", status_body
    assert status_body["rows_in"] == BIG_ROWS
    pods = real.dataset_pods(dataset_id)
    codes = [(terminated(p) or {}).get("exitCode") for p in pods]
    assert codes == [137, 0], codes
    assert pods[0]["metadata"]["uid"] == pod["metadata"]["uid"]


def test_api_pod_deleted_while_a_job_runs_the_new_pod_follows_it(real: Node) -> None:
    data = big_csv(BIG_ROWS)
    with httpx.Client(base_url=real.api_url, timeout=60) as api:
        dataset_id = upload(api, data)
        _running_processor(real, dataset_id)
        (old,) = [
            p
            for p in real.pods("app.kubernetes.io/component=api")
            if not p["metadata"].get("deletionTimestamp")
        ]
        real.kube.request("DELETE", f"{NS}/pods/{old['metadata']['name']}")
        wait_for(
            "a new API pod",
            lambda: any(
                p["metadata"]["uid"] != old["metadata"]["uid"]
                for p in real.pods("app.kubernetes.io/component=api")
            ),
        )
        wait_for("the new API pod to be ready", lambda: _api_ready(real), timeout=180)
        status = final(api, dataset_id, timeout=300)
    assert status["status"] == "ready", status
    assert status["rows_in"] == BIG_ROWS
    assert len(real.dataset_pods(dataset_id)) == 1, "followed, not launched again"
    new = [
        p
        for p in real.pods("app.kubernetes.io/component=api")
        if not p["metadata"].get("deletionTimestamp")
    ]
    assert [p["metadata"]["uid"] for p in new] != [old["metadata"]["uid"]]


def test_processor_start_to_exit_on_a_tiny_file(real: Node) -> None:
    """Measured from inside: the container's start and finish times the kubelet reports."""
    with httpx.Client(base_url=real.api_url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        assert final(api, dataset_id)["status"] == "ready"
    (pod,) = real.dataset_pods(dataset_id)
    state = terminated(pod)
    assert state is not None
    began = datetime.fromisoformat(state["startedAt"].replace("Z", "+00:00"))
    ended = datetime.fromisoformat(state["finishedAt"].replace("Z", "+00:00"))
    seconds = (ended - began).total_seconds()
    print(
        f"\nreal node: processor container start to exit on a 3-row CSV: {seconds:.0f}s"
        " (whole seconds, as the kubelet reports them)"
    )
    assert seconds <= 10
