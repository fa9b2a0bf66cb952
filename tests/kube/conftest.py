"""One real control plane per session, set up the way `k8s/base` sets up the cluster.

* The namespace comes from `k8s/base/namespace.yaml` (Pod Security `restricted`
  enforced) and the identities and rights from `k8s/base/rbac.yaml`, both
  applied unchanged with kubectl.
* The ConfigMap and Secret the API and the Jobs share carry this session's S3
  settings (SeaweedFS), under the names the manifests use.
* The API runs as a real process whose only Kubernetes credential is a token of
  its own ServiceAccount (TokenRequest API), in a kubeconfig of its own.
* Pods land on the kwok node, where `tests/servers/executor.py` runs them.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from kubernetes import client, config, watch
from pydantic import SecretStr

from core import keys
from core.catalog import Catalog, SqlCatalog, new_dataset_id
from core.settings import Settings, StorageBackend, StorageSettings
from core.storage import ObjectStore
from core.storage.factory import ensure_buckets, make_store
from tests.conftest import s3_env
from tests.servers.api import ApiServer
from tests.servers.executor import PodExecutor
from tests.servers.kube import FAKE_NODE_SELECTOR, FAKE_NODE_TOLERATIONS, KubeControlPlane
from tests.servers.seaweed import SeaweedS3

ROOT = Path(__file__).resolve().parents[2]
NAMESPACE_YAML = ROOT / "k8s" / "base" / "namespace.yaml"
RBAC_YAML = ROOT / "k8s" / "base" / "rbac.yaml"
NAMESPACE = "mini-pipeline"
API_SERVICE_ACCOUNT = "mini-api"
PROCESSOR_SERVICE_ACCOUNT = "mini-processor"
CONFIG_MAP = "mini-config"
SECRET = "mini-processor-secrets"
IMAGE = "mini-pipeline-processor:test"


def admin_client(kube: KubeControlPlane) -> client.ApiClient:
    cfg = client.Configuration()
    config.load_kube_config(config_file=str(kube.kubeconfig_path), client_configuration=cfg)
    return client.ApiClient(cfg)


def service_account_kubeconfig(
    kube: KubeControlPlane, core: client.CoreV1Api, account: str, path: Path
) -> Path:
    """A kubeconfig holding only a bound token of `account` (TokenRequest API)."""
    request = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(audiences=[], expiration_seconds=7200)
    )
    token = core.create_namespaced_service_account_token(account, NAMESPACE, request)
    assert token.status is not None
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mini",
                "cluster": {"server": kube.server, "certificate-authority": str(kube.ca_path)},
            }
        ],
        "users": [{"name": account, "user": {"token": token.status.token}}],
        "contexts": [
            {
                "name": account,
                "context": {"cluster": "mini", "user": account, "namespace": NAMESPACE},
            }
        ],
        "current-context": account,
    }
    path.write_text(json.dumps(kubeconfig))
    path.chmod(0o600)
    return path


@dataclass
class Cluster:
    kube: KubeControlPlane
    seaweed: SeaweedS3
    executor: PodExecutor
    admin: client.ApiClient
    api_kubeconfig: Path
    raw_bucket: str
    processed_bucket: str
    # A Job-list resourceVersion from the start of the session, and when it was read.
    started_rv: str = ""
    started_at: float = 0.0

    @property
    def batch(self) -> client.BatchV1Api:
        return client.BatchV1Api(self.admin)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.admin)

    def storage_env(self) -> dict[str, str]:
        return s3_env(
            self.seaweed,
            MINI_STORAGE__RAW_BUCKET=self.raw_bucket,
            MINI_STORAGE__PROCESSED_BUCKET=self.processed_bucket,
        )

    def api_env(self, **overrides: str) -> dict[str, str]:
        """MINI_* for an API process using the Kubernetes runner against this cluster."""
        env = {
            **self.storage_env(),
            "MINI_RUNNER__BACKEND": "kubernetes",
            "MINI_RUNNER__KUBERNETES__KUBECONFIG": str(self.api_kubeconfig),
            "MINI_RUNNER__KUBERNETES__NAMESPACE": NAMESPACE,
            "MINI_RUNNER__KUBERNETES__IMAGE": IMAGE,
            "MINI_RUNNER__KUBERNETES__NODE_SELECTOR": json.dumps(FAKE_NODE_SELECTOR),
            "MINI_RUNNER__KUBERNETES__TOLERATIONS": json.dumps(FAKE_NODE_TOLERATIONS),
            "MINI_RUNNER__KUBERNETES__POLL_SECONDS": "2",
            "MINI_RUNNER__KUBERNETES__ACTIVE_DEADLINE_SECONDS": "300",
            "MINI_RUNNER__KUBERNETES__TTL_SECONDS_AFTER_FINISHED": "600",
        }
        env.update({f"MINI_RUNNER__KUBERNETES__{k.upper()}": v for k, v in overrides.items()})
        return env

    def settings(self) -> Settings:
        return Settings(
            storage=StorageSettings(
                backend=StorageBackend.s3,
                endpoint=self.seaweed.endpoint,
                access_key=self.seaweed.access_key,
                secret_key=SecretStr(self.seaweed.secret_key),
                raw_bucket=self.raw_bucket,
                processed_bucket=self.processed_bucket,
            )
        )

    def store(self) -> ObjectStore:
        return make_store(self.settings())

    def job(self, dataset_id: str) -> client.V1Job | None:
        try:
            return self.batch.read_namespaced_job(f"mini-proc-{dataset_id}", NAMESPACE)
        except client.exceptions.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def saved_logs(self, dataset_id: str) -> str | None:
        store = self.store()
        if not store.exists(self.processed_bucket, keys.logs_key(dataset_id)):
            return None
        with store.open(self.processed_bucket, keys.logs_key(dataset_id)) as fh:
            return fh.read().decode()


def _marker_job() -> client.V1Job:
    return client.V1Job(
        metadata=client.V1ObjectMeta(name="session-marker"),
        spec=client.V1JobSpec(
            suspend=True,
            template=client.V1PodTemplateSpec(
                spec=client.V1PodSpec(
                    restart_policy="Never",
                    containers=[client.V1Container(name="marker", image="none")],
                )
            ),
        ),
    )


@pytest.fixture(scope="session")
def cluster(
    kube: KubeControlPlane, seaweed: SeaweedS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    for manifest in (NAMESPACE_YAML, RBAC_YAML):
        kube.kubectl("apply", "-f", str(manifest))
    suffix = os.urandom(4).hex()
    raw_bucket, processed_bucket = f"kube-raw-{suffix}", f"kube-processed-{suffix}"
    admin = admin_client(kube)
    core = client.CoreV1Api(admin)
    settings = {
        "MINI_STORAGE__BACKEND": "s3",
        "MINI_STORAGE__ENDPOINT": seaweed.endpoint,
        "MINI_STORAGE__SECURE": "false",
        "MINI_STORAGE__RAW_BUCKET": raw_bucket,
        "MINI_STORAGE__PROCESSED_BUCKET": processed_bucket,
    }
    secrets = {
        "MINI_STORAGE__ACCESS_KEY": seaweed.access_key,
        "MINI_STORAGE__SECRET_KEY": seaweed.secret_key,
    }
    core.create_namespaced_config_map(
        NAMESPACE, client.V1ConfigMap(metadata=client.V1ObjectMeta(name=CONFIG_MAP), data=settings)
    )
    core.create_namespaced_secret(
        NAMESPACE,
        client.V1Secret(
            metadata=client.V1ObjectMeta(name=SECRET),
            data={k: base64.b64encode(v.encode()).decode() for k, v in secrets.items()},
        ),
    )
    api_kubeconfig = service_account_kubeconfig(
        kube, core, API_SERVICE_ACCOUNT, tmp_path_factory.mktemp("sa") / "kubeconfig"
    )
    batch = client.BatchV1Api(admin)
    started = batch.list_namespaced_job(NAMESPACE)
    # An early event in the apiserver's Job watch history (see test_watch.py).
    batch.create_namespaced_job(NAMESPACE, _marker_job())
    with PodExecutor(kube) as executor:
        found = Cluster(
            kube=kube,
            seaweed=seaweed,
            executor=executor,
            admin=admin,
            api_kubeconfig=api_kubeconfig,
            raw_bucket=raw_bucket,
            processed_bucket=processed_bucket,
            started_rv=started.metadata.resource_version,
            started_at=time.monotonic(),
        )
        ensure_buckets(found.store(), found.settings())
        yield found
    admin.close()


@pytest.fixture
def start_api(cluster: Cluster, tmp_path: Path) -> Iterator[Callable[..., ApiServer]]:
    """Start API processes (Kubernetes runner) for one test; all are stopped afterwards."""
    started: list[ApiServer] = []

    def start(
        data_dir: Path | None = None, env: dict[str, str] | None = None, **overrides: str
    ) -> ApiServer:
        server = ApiServer(
            data_dir or tmp_path / f"api-{len(started)}",
            {**cluster.api_env(**overrides), **(env or {})},
        )
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.stop()


def catalog_at(data_dir: Path) -> Catalog:
    return SqlCatalog.from_url(f"sqlite:///{data_dir.resolve() / 'catalog.sqlite3'}")


def wait_for(what: str, check: Callable[[], Any], timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def wait_final(api: httpx.Client, dataset_id: str, timeout: float = 120.0) -> dict[str, Any]:
    def final() -> dict[str, Any] | None:
        body: dict[str, Any] = api.get(f"/datasets/{dataset_id}/status").json()
        return body if body["status"] in ("ready", "failed") else None

    result: dict[str, Any] = wait_for(f"dataset {dataset_id} to be final", final, timeout)
    return result


def conditions(job: client.V1Job) -> dict[str, str]:
    """Condition type -> reason, for the conditions that are True."""
    found = job.status.conditions if job.status else None
    return {c.type: c.reason or "" for c in found or [] if c.status == "True"}


def stage_upload(
    cluster: Cluster, data: bytes, *, uploaded_at: datetime | None = None
) -> tuple[str, dict[str, Any]]:
    """What an upload leaves in storage (raw file, then its sidecar), without the catalog row."""
    dataset_id = new_dataset_id()
    store = cluster.store()
    info = store.put_bytes(cluster.raw_bucket, keys.raw_key(dataset_id), data)
    manifest: dict[str, Any] = {
        "dataset_id": dataset_id,
        "filename": f"{dataset_id[:6]}.csv",
        "size_bytes": info.size,
        "sha256": hashlib.sha256(data).hexdigest(),
        "content_type": "text/csv",
        "uploaded_at": (uploaded_at or datetime.now(UTC)).isoformat(),
        "name": dataset_id,
        "options": {},
    }
    store.put_bytes(
        cluster.raw_bucket,
        keys.upload_manifest_key(dataset_id),
        json.dumps(manifest).encode(),
    )
    return dataset_id, manifest


def record(catalog: Catalog, dataset_id: str, manifest: dict[str, Any]) -> None:
    """The catalog row the upload route would have written."""
    catalog.add(
        dataset_id=dataset_id,
        filename=manifest["filename"],
        raw_key=keys.raw_key(dataset_id),
        sha256=manifest["sha256"],
        size_bytes=manifest["size_bytes"],
        options=manifest["options"],
        name=manifest["name"],
    )


GOOD_CSV = b"id;name;score\n1;alpha;1.5\n2;beta;2.5\n3;gamma;3.5\n"
# Valid CSV, but the upload asks for a header row it does not have: BadInput, exit 2.
SHORT_CSV = b"id,name\n1,a\n"

StartApi = Callable[..., ApiServer]


def upload(api: httpx.Client, data: bytes, name: str = "data.csv", **params: Any) -> str:
    r = api.post("/upload", files={"file": (name, data)}, params=params)
    assert r.status_code == 202, r.text
    dataset_id: str = r.json()["id"]
    return dataset_id


class JobLog:
    """Every Job event in the namespace from the start of a test, as the admin sees them."""

    def __init__(self, cluster: Cluster) -> None:
        self.events: list[tuple[str, float, client.V1Job]] = []
        self._watch = watch.Watch()
        listing = cluster.batch.list_namespaced_job(NAMESPACE)
        self._thread = threading.Thread(
            target=self._run, args=(cluster, listing.metadata.resource_version), daemon=True
        )
        self._thread.start()

    def _run(self, cluster: Cluster, rv: str) -> None:
        # Ends with an error when stop() cuts the stream: nothing to report then.
        with contextlib.suppress(Exception):
            for event in self._watch.stream(
                cluster.batch.list_namespaced_job,
                NAMESPACE,
                resource_version=rv,
                timeout_seconds=600,
            ):
                self.events.append((event["type"], time.time(), event["object"]))

    def of(self, dataset_id: str, kind: str | None = None) -> list[tuple[str, float, client.V1Job]]:
        name = f"mini-proc-{dataset_id}"
        return [
            e
            for e in list(self.events)
            if e[2].metadata.name == name and (kind is None or e[0] == kind)
        ]

    def uids(self, dataset_id: str) -> set[str]:
        return {e[2].metadata.uid for e in self.of(dataset_id)}

    def stop(self) -> None:
        self._watch.stop()


@pytest.fixture
def job_log(cluster: Cluster) -> Iterator[JobLog]:
    found = JobLog(cluster)
    yield found
    found.stop()
