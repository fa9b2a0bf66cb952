"""Day-one capacity: the ResourceQuota and LimitRange hold everything the deployment
runs at once, processor Jobs included, and the data directories are the pods' own."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from kubernetes import client

from api.runners.k8s_job import build_job, quantity_bytes
from core.catalog import Dataset, Status, new_dataset_id
from core.settings import KubernetesSettings

from .manifests import Manifest, containers, find, pod_template

KEYS = ("cpu", "memory", "ephemeral-storage")


def amount(key: str, quantity: str) -> float:
    """CPU in cores, the rest in bytes."""
    if key == "cpu":
        return int(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)
    return quantity_bytes(quantity)


def runner_settings(rendered: list[Manifest]) -> KubernetesSettings:
    data = find(rendered, "ConfigMap", "mini-config")["data"]
    prefix = "MINI_RUNNER__KUBERNETES__"
    fields = {k[len(prefix) :].lower(): v for k, v in data.items() if k.startswith(prefix)}
    return KubernetesSettings.model_validate(fields)


def biggest_upload_job(rendered: list[Manifest]) -> Manifest:
    data = find(rendered, "ConfigMap", "mini-config")["data"]
    return upload_job(rendered, int(data["MINI_MAX_UPLOAD_BYTES"]))


def upload_job(rendered: list[Manifest], size_bytes: int) -> Manifest:
    dataset_id = new_dataset_id()
    dataset = Dataset(
        id=dataset_id,
        filename="big.csv",
        raw_key=f"{dataset_id}/source.csv",
        sha256="0" * 64,
        size_bytes=size_bytes,
        status=Status.queued,
        error=None,
        options={},
        rows_in=None,
        rows_out=None,
        rows_rejected=None,
        attempts=0,
        created_at=datetime.now(UTC),
        started_at=None,
        finished_at=None,
    )
    job = build_job(dataset, runner_settings(rendered))
    wire: Manifest = client.ApiClient().sanitize_for_serialization(job)
    return wire


def at_once(rendered: list[Manifest]) -> list[tuple[str, Manifest]]:
    """Every pod the deployment may run at the same time, with its template."""
    pods: list[tuple[str, Manifest]] = []
    api = find(rendered, "Deployment", "mini-api")
    surge = api["spec"]["strategy"]["rollingUpdate"]["maxSurge"]
    pods += [("api", pod_template(api))] * (api["spec"]["replicas"] + surge)
    for kind, name in (
        ("StatefulSet", "minio"),
        ("StatefulSet", "postgres"),
        ("Job", "minio-init"),
        ("CronJob", "mini-reconciler"),
    ):
        pods.append((name, pod_template(find(rendered, kind, name))))
    k = runner_settings(rendered)
    cap, large = k.max_active_jobs, k.max_active_large_jobs
    assert cap > 0, "MicroK8s gets a cap on concurrent Jobs"
    assert 0 < large <= cap, "and a cap on the Jobs of uploads that are not small"
    # The most the caps let run at once: `large` Jobs of the biggest upload, the rest
    # of the biggest small one.
    pods += [("processor", biggest_upload_job(rendered)["spec"]["template"])] * large
    small = upload_job(rendered, k.small_upload_bytes)["spec"]["template"]
    pods += [("small processor", small)] * (cap - large)
    return pods


def pod_total(template: Manifest, bound: str, key: str) -> float:
    """What a pod counts against the quota: the larger of its init containers and
    the sum of its containers (as the scheduler and the quota count it)."""
    spec = template["spec"]
    main = sum(amount(key, c["resources"][bound][key]) for c in spec["containers"])
    init = [amount(key, c["resources"][bound][key]) for c in spec.get("initContainers", [])]
    return max([main, *init])


def test_the_quota_holds_every_pod_the_job_caps_let_run_at_once(
    rendered: list[Manifest],
) -> None:
    quota = find(rendered, "ResourceQuota", "mini-pipeline")["spec"]["hard"]
    pods = at_once(rendered)
    assert len(pods) <= int(quota["pods"])
    for bound in ("requests", "limits"):
        for key in KEYS:
            total = sum(pod_total(t, bound, key) for _, t in pods)
            allowed = amount(key, quota[f"{bound}.{key}"])
            assert total <= allowed, f"{bound}.{key}: {total} > {allowed}"
    claims = [
        c for m in rendered if m["kind"] == "StatefulSet" for c in m["spec"]["volumeClaimTemplates"]
    ]
    assert len(claims) <= int(quota["persistentvolumeclaims"])
    storage = sum(quantity_bytes(c["spec"]["resources"]["requests"]["storage"]) for c in claims)
    assert storage <= quantity_bytes(quota["requests.storage"])


def test_processor_jobs_ask_for_the_disk_their_spill_needs(rendered: list[Manifest]) -> None:
    job = biggest_upload_job(rendered)
    size = int(find(rendered, "ConfigMap", "mini-config")["data"]["MINI_MAX_UPLOAD_BYTES"])
    (container,) = job["spec"]["template"]["spec"]["containers"]
    request = quantity_bytes(container["resources"]["requests"]["ephemeral-storage"])
    limit = quantity_bytes(container["resources"]["limits"]["ephemeral-storage"])
    assert 1.2 * size < request <= limit
    (tmp,) = job["spec"]["template"]["spec"]["volumes"]
    assert quantity_bytes(tmp["emptyDir"]["sizeLimit"]) == limit
    memory = container["resources"]["requests"]["memory"]
    assert quantity_bytes(memory) >= 512 * 2**20, "the processor's measured peak fits"


def test_every_container_fits_the_limit_range(rendered: list[Manifest]) -> None:
    limits = find(rendered, "LimitRange", "mini-pipeline")["spec"]["limits"]
    (per_container,) = [item for item in limits if item["type"] == "Container"]
    assert set(per_container["default"]) == set(KEYS) == set(per_container["defaultRequest"])
    for name, template in at_once(rendered):
        for c in containers(template):
            for key in KEYS:
                got = amount(key, c["resources"]["limits"][key])
                assert got <= amount(key, per_container["max"][key]), (name, c["name"], key)


def test_data_directories_are_made_by_the_pods_own_uid_mode_0700(
    rendered: list[Manifest],
) -> None:
    """hostPath volumes (MicroK8s' hostpath-storage) are world-writable and ignore
    fsGroup: each StatefulSet keeps its data in a 0700 directory of its own uid."""
    expected = {"minio": "/data/objects", "postgres": "/var/lib/postgresql/data/pgdata"}
    for name, directory in expected.items():
        spec = pod_template(find(rendered, "StatefulSet", name))["spec"]
        (init,) = spec["initContainers"]
        (main,) = spec["containers"]
        assert init["image"] == main["image"]
        assert "securityContext" not in init or "runAsUser" not in init["securityContext"]
        script = " ".join(init["command"])
        env = {e["name"]: e.get("value") for e in init.get("env", [])}
        script = re.sub(r'"?\$PGDATA"?', env.get("PGDATA", "$PGDATA"), script)
        assert f"mkdir -p {directory}" in script
        assert f"chmod 0700 {directory}" in script
        assert f"test -O {directory}" in script
        used = " ".join(main.get("args", [])) + " ".join(
            e.get("value") or "" for e in main.get("env", [])
        )
        assert directory in used, f"{name} does not use {directory}"
        assert spec["securityContext"]["fsGroupChangePolicy"] == "OnRootMismatch"
