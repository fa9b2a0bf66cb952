"""The whole MicroK8s overlay on a real kubelet (tests/servers/node.py), deployed by
`make deploy`'s own script, end to end.

One control plane for this module, one real node (kubelet from the same
Kubernetes source, containerd + runc, a local pause image), both images built from
the Dockerfiles (`make images`) and loaded with `ctr -n k8s.io images import` as
`make import` loads them into MicroK8s. `scripts/deploy.sh` creates the Secrets and
applies everything in `k8s/overlays/microk8s` (StatefulSets, the minio-init Job,
the API Deployment, the reconciler CronJob, RBAC, quota, policies) and waits for the
rollout; the API launches the processor Jobs with its in-cluster ServiceAccount token.

Test-only, in one kustomize layer on top of the overlay (`real_node_overlay`):
* Stand-in images (tests/deploy/standins, `scripts/build-standins.sh`) for the three
  that no registry here serves: SeaweedFS behind a `minio` entrypoint for MinIO, an
  `mc` with the subcommands minio-init runs for mc, Debian's PostgreSQL 15 for
  postgres:17. The StatefulSets and the Job keep their shape (ports, volumes, env,
  security contexts); the probes keep their kind and port, MinIO's health path
  becomes SeaweedFS's `/healthz`.
* The loopback-only rule: every pod runs on the host network (a mutating webhook on
  127.0.0.1 adds `hostNetwork` and `hostAliases`, so the namespace enforces Pod
  Security `privileged` here; `restricted` is tested elsewhere). MinIO and
  PostgreSQL each get a loopback address of their own (127.x.y.z), so they keep
  their ports (9000, 5432) and the Secrets `make deploy` writes (postgres:5432,
  minio:9000) work unchanged; the API listens on a free port of 127.0.0.1; and
  `KUBERNETES_SERVICE_HOST`/`_PORT` name the apiserver on 127.0.0.1.
* The volume claims bind to hostPath PersistentVolumes made world-writable, as
  MicroK8s' hostpath-storage makes them.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from minio import Minio
from minio.error import S3Error

from tests.servers.images import BuiltImage, built_images, standin_images
from tests.servers.kube import KubeAPIError, KubeControlPlane
from tests.servers.node import HostNetworkWebhook, RealNode
from tests.servers.process import free_ports

from .manifests import DEPLOY_SCRIPT, NAMESPACE, OVERLAY, kubectl_on, kubectl_path

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
APPS = f"/apis/apps/v1/namespaces/{NAMESPACE}"
# What the StatefulSets' volumeClaimTemplates ask for.
VOLUMES = {"minio": "20Gi", "postgres": "5Gi"}


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
    api_key: str
    processor_ref: str
    api_ref: str
    standins: dict[str, str]
    s3_address: str
    deploy_seconds: float

    def get(self, path: str) -> Any:
        return self.kube.request("GET", path)

    def client(self, timeout: float) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            timeout=timeout,
            headers={"Authorization": f"Bearer {self.api_key}"},
        )

    def secret(self, name: str) -> dict[str, str]:
        data = self.get(f"{NS}/secrets/{name}")["data"]
        return {k: base64.b64decode(v).decode() for k, v in data.items()}

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


def loopback_addresses(count: int) -> list[str]:
    """Distinct random 127.x.y.z addresses, none in 127.0.0.0/16 (where the rest listens)."""
    found: set[str] = set()
    while len(found) < count:
        b = os.urandom(3)
        found.add(f"127.{64 + b[0] % 128}.{b[1]}.{2 + b[2] % 250}")
    return sorted(found)


def swap(path: str, old: Any, new: Any) -> list[dict[str, Any]]:
    """A `test` of what the base says, then the replacement."""
    return [
        {"op": "test", "path": path, "value": old},
        {"op": "replace", "path": path, "value": new},
    ]


def json_patch(target: dict[str, str], ops: list[dict[str, Any]]) -> dict[str, Any]:
    return {"target": target, "patch": json.dumps(ops)}


def real_node_overlay(
    layer: Path,
    standins: dict[str, BuiltImage],
    s3_ip: str,
    pg_ip: str,
    api_port: int,
    apiserver_port: int,
) -> dict[str, Any]:
    """The test-only kustomization on top of k8s/overlays/microk8s (module docstring).

    Every patch starts with `test` ops on what it changes, so a change to the base
    that this layer would silently paper over fails here instead.
    """
    s3, pg = standins["s3"], standins["postgres"]
    spec = "/spec/template/spec"
    c0 = f"{spec}/containers/0"
    ready, live = f"{c0}/readinessProbe", f"{c0}/livenessProbe"
    api_env = {
        "KUBERNETES_SERVICE_HOST": "127.0.0.1",
        "KUBERNETES_SERVICE_PORT": str(apiserver_port),
        "MINI_HOST": "127.0.0.1",
        "MINI_PORT": str(api_port),
        "MINI_RUNNER__KUBERNETES__POLL_SECONDS": "3",
        "MINI_RUNNER__KUBERNETES__ACTIVE_DEADLINE_SECONDS": "300",
    }
    return {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "resources": [os.path.relpath(OVERLAY, layer)],
        "images": [
            {"name": "quay.io/minio/minio", "newName": s3.repository, "newTag": s3.tag},
            {"name": "quay.io/minio/mc", "newName": s3.repository, "newTag": s3.tag},
            {"name": "postgres", "newName": pg.repository, "newTag": pg.tag},
        ],
        "patches": [
            json_patch(
                {"kind": "Namespace", "name": NAMESPACE},
                [
                    {
                        "op": "replace",
                        "path": "/metadata/labels/pod-security.kubernetes.io~1enforce",
                        "value": "privileged",
                    }
                ],
            ),
            json_patch(
                {"kind": "StatefulSet", "name": "minio"},
                [
                    {"op": "test", "path": f"{c0}/name", "value": "minio"},
                    *swap(f"{c0}/args/3", ":9000", f"{s3_ip}:9000"),
                    *swap(f"{ready}/httpGet/path", "/minio/health/ready", "/healthz"),
                    {"op": "add", "path": f"{ready}/httpGet/host", "value": s3_ip},
                    *swap(f"{live}/httpGet/path", "/minio/health/live", "/healthz"),
                    {"op": "add", "path": f"{live}/httpGet/host", "value": s3_ip},
                ],
            ),
            json_patch(
                {"kind": "StatefulSet", "name": "postgres"},
                [
                    {"op": "test", "path": f"{c0}/name", "value": "postgres"},
                    {
                        "op": "add",
                        "path": f"{c0}/args",
                        "value": ["postgres", "-c", f"listen_addresses={pg_ip}"],
                    },
                    *swap(f"{ready}/exec/command/2", "127.0.0.1", pg_ip),
                    *swap(f"{live}/exec/command/2", "127.0.0.1", pg_ip),
                ],
            ),
            json_patch(
                {"kind": "Deployment", "name": "mini-api"},
                [
                    # One replica: two on one host network would share a port.
                    {"op": "replace", "path": "/spec/replicas", "value": 1},
                    *swap(f"{c0}/ports/0/containerPort", 8000, api_port),
                    *[
                        {"op": "add", "path": f"{c0}/env/-", "value": {"name": k, "value": v}}
                        for k, v in api_env.items()
                    ],
                    {"op": "add", "path": f"{spec}/terminationGracePeriodSeconds", "value": 5},
                ],
            ),
        ],
    }


def volumes(kube: KubeControlPlane, workdir: Path) -> None:
    """hostPath PersistentVolumes for the StatefulSets' claims, in the overlay's
    storage class, world-writable as MicroK8s' hostpath provisioner makes them."""
    kube.request(
        "POST",
        "/apis/storage.k8s.io/v1/storageclasses",
        {
            "metadata": {"name": "microk8s-hostpath"},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "Immediate",
        },
    )
    for name, size in VOLUMES.items():
        path = workdir / name
        path.mkdir()
        path.chmod(0o777)
        kube.request(
            "POST",
            "/api/v1/persistentvolumes",
            {
                "metadata": {"name": f"mini-test-{name}"},
                "spec": {
                    "capacity": {"storage": size},
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": "microk8s-hostpath",
                    "persistentVolumeReclaimPolicy": "Retain",
                    "hostPath": {"path": str(path), "type": "Directory"},
                    "claimRef": {"namespace": NAMESPACE, "name": f"data-{name}-0"},
                },
            },
        )


@pytest.fixture(scope="module")
def real(kube: KubeControlPlane) -> Iterator[Node]:
    with deployed(kube) as found:
        yield found


@contextlib.contextmanager
def deployed(kube: KubeControlPlane) -> Iterator[Node]:
    """The real node with the whole overlay deployed on it (module docstring); also
    `make bench ARGS="bench_small_files --real-node=N"`."""
    start = time.monotonic()
    images = built_images()
    standins = standin_images()
    built = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="mini-real-node-"))
    workdir.chmod(0o755)  # the volumes' users (10001, 999) pass through it
    with RealNode(kube) as node:
        ready = time.monotonic()
        refs = {
            k: node.containerd.import_image(i.archive, i.name)
            for k, i in {**images, **standins}.items()
        }
        imported = time.monotonic()
        print(
            f"\nreal node: images {built - start:.1f}s (cached unless the inputs changed),"
            f" kubelet + pause build {node.build['BUILD_SECONDS']}s, node Ready"
            f" {ready - built:.1f}s, ctr images import {imported - ready:.1f}s"
        )
        s3_ip, pg_ip = loopback_addresses(2)
        webhook = HostNetworkWebhook(
            kube, NAMESPACE, aliases=[], host_aliases={s3_ip: ["minio"], pg_ip: ["postgres"]}
        ).start()
        volumes(kube, workdir)
        (api_port,) = free_ports(1)
        apiserver_port = int(kube.server.rsplit(":", 1)[1])
        overlay = workdir / "overlay"
        layer = workdir / "layer"
        overlay.mkdir()
        (overlay / "kustomization.yaml").write_text(
            yaml.safe_dump(
                real_node_overlay(overlay, standins, s3_ip, pg_ip, api_port, apiserver_port),
                sort_keys=False,
            )
        )
        env = {
            **os.environ,
            "KUBECTL": f"{kubectl_path()} --kubeconfig={kube.kubeconfig_path}",
            "API_IMAGE": images["api"].name,
            "PROCESSOR_IMAGE": images["processor"].name,
            "OVERLAY": str(overlay),
            "LAYER_DIR": str(layer),
            "ROLLOUT_TIMEOUT": "300s",
        }
        deploy = subprocess.run(
            ["bash", str(DEPLOY_SCRIPT), "deploy"], env=env, capture_output=True, text=True
        )
        deployed = time.monotonic()
        found = Node(
            kube,
            node,
            f"http://127.0.0.1:{api_port}",
            "",
            refs["processor"],
            refs["api"],
            {k: refs[k] for k in standins},
            f"{s3_ip}:9000",
            deployed - imported,
        )
        if deploy.returncode != 0:
            raise AssertionError(
                f"scripts/deploy.sh failed ({deploy.returncode}):\n{deploy.stdout}\n"
                f"{deploy.stderr}\n{diagnose(found)}"
            )
        found.api_key = found.secret("mini-secrets")["MINI_API_KEYS"].split(",")[0]
        try:
            wait_for("the API to answer", lambda: _api_ready(found), timeout=60)
        except TimeoutError:
            raise AssertionError(diagnose(found)) from None
        print(
            f"real node: scripts/deploy.sh (Secrets, apply, StatefulSets, minio-init,"
            f" API rollout) {deployed - imported:.1f}s"
        )
        try:
            yield found
        finally:
            print(f"\nreal node: suite took {time.monotonic() - start:.1f}s in all")
            if os.environ.get("MINI_REAL_NODE_LOG"):
                print(node.log_tail(80))
            webhook.stop()
            with contextlib.suppress(Exception):
                kubectl_on(kube.kubeconfig_path, "delete", "namespace", NAMESPACE, "--wait=false")
    shutil.rmtree(workdir, ignore_errors=True)


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


def pod_log(real: Node, pod: dict[str, Any]) -> str:
    """Through the apiserver, which fetches it from the kubelet."""
    name = pod["metadata"]["name"]
    return kubectl_on(real.kube.kubeconfig_path, "-n", NAMESPACE, "logs", name).stdout


def test_make_deploys_script_brings_up_the_whole_overlay_and_a_file_goes_through(
    real: Node,
) -> None:
    """StatefulSets on the stand-in images Ready, minio-init Complete (deploy.sh waited
    for both; checked again here), then a CSV through the API to rows, its bytes in the
    stand-in S3 under the app's own key, which the policy minio-init attached scopes."""
    for name, image in (("minio", "s3"), ("postgres", "postgres")):
        sts = real.get(f"{APPS}/statefulsets/{name}")
        assert sts["status"].get("readyReplicas") == 1, sts["status"]
        (pod,) = real.pods(f"app.kubernetes.io/component={name}")
        statuses = pod["status"]["initContainerStatuses"] + pod["status"]["containerStatuses"]
        assert {s["image"] for s in statuses} == {real.standins[image]}, statuses
        claim = real.get(f"{NS}/persistentvolumeclaims/data-{name}-0")
        assert claim["status"]["phase"] == "Bound"
    init = real.get(f"{BATCH}/jobs/minio-init")
    assert {c["type"]: c["status"] for c in init["status"]["conditions"]}.get("Complete") == "True"
    (init_pod,) = real.pods("app.kubernetes.io/component=minio-init")
    init_log = pod_log(real, init_pod)
    assert "Attached Policies: [mini-app]" in init_log, init_log
    with real.client(30) as api:
        started = time.monotonic()
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        status = final(api, dataset_id)
        elapsed = time.monotonic() - started
        rows = api.get(f"/datasets/{dataset_id}").json()["rows"]
    assert status["status"] == "ready", status
    assert [r["name"] for r in rows] == ["alpha", "beta", "gamma"]
    print(
        f"\nreal node, whole overlay: deploy {real.deploy_seconds:.1f}s;"
        f" 3-row CSV upload -> ready {elapsed:.2f}s"
    )
    keys = real.secret("mini-secrets")
    s3 = Minio(
        real.s3_address,
        access_key=keys["MINI_STORAGE__ACCESS_KEY"],
        secret_key=keys["MINI_STORAGE__SECRET_KEY"],
        secure=False,
    )
    assert any(dataset_id in o.object_name for o in s3.list_objects("raw", recursive=True))
    assert any(
        dataset_id in (o.object_name or "") for o in s3.list_objects("processed", recursive=True)
    )
    with pytest.raises(S3Error) as denied:
        s3.make_bucket("not-in-the-policy")
    assert denied.value.code == "AccessDenied"


def test_reconciler_cronjob_run_once_completes(real: Node) -> None:
    kubectl_on(
        real.kube.kubeconfig_path, "-n", NAMESPACE, "create", "job",
        "--from=cronjob/mini-reconciler", "mini-reconciler-now",
    )  # fmt: skip

    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = real.get(f"{BATCH}/jobs/mini-reconciler-now")
        status = job.get("status", {})
        return job if status.get("succeeded") or status.get("failed") else None

    started = time.monotonic()
    try:
        job = wait_for("the reconciler Job", done, timeout=180, every=0.5)
    except TimeoutError:
        raise AssertionError(diagnose(real)) from None
    (pod,) = real.pods("job-name=mini-reconciler-now")
    log = pod_log(real, pod)
    assert job["status"].get("succeeded") == 1, f"{job['status']}\n{log}"
    state = terminated(pod)
    assert state is not None and state["exitCode"] == 0
    (container,) = pod["status"]["containerStatuses"]
    assert container["image"] == real.processor_ref
    print(f"\nreal node: reconciler Job from the CronJob ran in {time.monotonic() - started:.1f}s")


def test_upload_runs_a_job_pod_of_the_processor_image_to_ready(real: Node) -> None:
    with real.client(30) as api:
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
    with real.client(30) as api:
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
    with real.client(60) as api:
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
    with real.client(60) as api:
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


# Issue 14: a tiny file's processor, start to exit, within 0.5 s in a pod.
START_TO_EXIT_GOAL_S = 0.5
TINY_RUNS = 3


def run_timing(log: str) -> dict[str, Any]:
    """The `timing` field of the processor's last JSON line (processor/timing.py)."""
    for line in reversed(log.splitlines()):
        if line.startswith("{") and '"timing"' in line:
            timing: dict[str, Any] = json.loads(line)["timing"]
            return timing
    raise AssertionError(f"no timing line in the pod's log:\n{log}")


def tiny_pod_timings(real: Node, runs: int) -> list[tuple[float, dict[str, Any]]]:
    """`runs` 3-row CSVs one after the other, each to ready; for each, the container's
    start to finish as the kubelet reports it (whole seconds) and the processor's own
    timing line (processor/timing.py) read through pods/log."""
    rows = []
    with real.client(30) as api:
        for _ in range(runs):
            dataset_id = upload(api, GOOD_CSV, delimiter=";")
            assert final(api, dataset_id)["status"] == "ready"
            (pod,) = real.dataset_pods(dataset_id)
            state = terminated(pod)
            assert state is not None
            began = datetime.fromisoformat(state["startedAt"].replace("Z", "+00:00"))
            ended = datetime.fromisoformat(state["finishedAt"].replace("Z", "+00:00"))
            rows.append(((ended - began).total_seconds(), run_timing(pod_log(real, pod))))
    return rows


def describe(kubelet_s: float, t: dict[str, Any]) -> str:
    phases = ", ".join(f"{k} {v * 1000:.0f}" for k, v in t["phases_s"].items())
    cpu = ", ".join(f"{k} {v * 1000:.0f}" for k, v in t["phases_cpu_s"].items())
    store = ", ".join(f"{k} {t['store_calls'][k]}x {v * 1000:.0f}" for k, v in t["store_s"].items())
    return (
        f"  age at the last line {t['age_s']:.3f} s"
        f" ({t['age_s'] / START_TO_EXIT_GOAL_S:.2f}x the goal), CPU {t['cpu_s']:.3f} s"
        f" ({t['cpu_s'] / START_TO_EXIT_GOAL_S:.2f}x); kubelet {kubelet_s:.0f} s (whole"
        f" seconds)\n    before the processor's imports {t['before_processor_s'] * 1000:.0f}"
        f" ms; phases ms: {phases}\n    CPU ms: {cpu}\n    store calls ms: {store}"
    )


def test_processor_start_to_exit_on_a_tiny_file(real: Node) -> None:
    """Measured from inside: the processor's own figures on its last log line (its
    process's age from /proc, its phases, its CPU), read through pods/log; beside them
    the container's start and finish as the kubelet reports them (whole seconds)."""
    rows = tiny_pod_timings(real, TINY_RUNS)
    load = os.getloadavg()
    print(
        f"\nreal node: processor start to exit on a 3-row CSV ({TINY_RUNS} pods,"
        f" load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}); goal"
        f" {START_TO_EXIT_GOAL_S} s"
    )
    for kubelet_s, t in rows:
        print(describe(kubelet_s, t))
    for kubelet_s, t in rows:
        # Bounds against a hang or a regression, not a benchmark (that is `make bench
        # ARGS="bench_small_files --real-node=N"`): other suites share the 2 cores,
        # which stretches wall time (11 s seen at load average 16) but hardly the CPU.
        # The CPU bound fails the image as it was before issue 14's fixes (0.74-0.77 s:
        # stale .pyc files compiled at every start, minio's crypto, OpenBLAS's threads).
        assert t["age_s"] is not None and t["age_s"] <= 20 * START_TO_EXIT_GOAL_S
        assert kubelet_s <= 20
        assert t["cpu_s"] <= 1.4 * START_TO_EXIT_GOAL_S, t
