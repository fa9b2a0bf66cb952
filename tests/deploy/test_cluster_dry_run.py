"""The rendered overlay against a real kube-apiserver: server-side dry-run and
Pod Security admission in the namespace the manifests create."""

from __future__ import annotations

import copy
import json
import uuid

import pytest

from tests.servers.kube import KubeAPIError, KubeControlPlane

from .manifests import NAMESPACE, Manifest, dump, find, kubectl_on, pod_template, pod_templates

WORKLOADS = [
    "Deployment/mini-api",
    "StatefulSet/minio",
    "StatefulSet/postgres",
    "Job/minio-init",
    "CronJob/mini-reconciler",
]


@pytest.fixture(scope="module")
def cluster(kube: KubeControlPlane, rendered: list[Manifest]) -> KubeControlPlane:
    """The Namespace and ServiceAccounts for real: namespaced objects cannot be
    dry-run into a namespace that does not exist, and Pods name their account."""
    first = [find(rendered, "Namespace", NAMESPACE)]
    first += [m for m in rendered if m["kind"] == "ServiceAccount"]
    kubectl_on(kube.kubeconfig_path, "apply", "-f", "-", stdin=dump(first))
    return kube


def test_server_side_dry_run_accepts_everything_without_warnings(
    cluster: KubeControlPlane, rendered: list[Manifest]
) -> None:
    result = kubectl_on(
        cluster.kubeconfig_path, "apply", "--dry-run=server", "-f", "-", stdin=dump(rendered)
    )
    # Pod Security "warn" reports controllers whose pods "enforce" would reject.
    assert "Warning" not in result.stderr, result.stderr
    applied = {line.split()[0] for line in result.stdout.splitlines()}
    for m in rendered:
        group = m["apiVersion"].split("/")[0] if "/" in m["apiVersion"] else ""
        kind = m["kind"].lower() + (f".{group}" if group else "")
        assert f"{kind}/{m['metadata']['name']}" in applied, (kind, result.stdout)


def test_server_side_dry_run_rejects_an_invalid_object(
    cluster: KubeControlPlane, rendered: list[Manifest]
) -> None:
    broken = copy.deepcopy(find(rendered, "Deployment", "mini-api"))
    broken["spec"]["template"]["metadata"]["labels"] = {"app.kubernetes.io/component": "x"}
    result = kubectl_on(
        cluster.kubeconfig_path,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        stdin=dump([broken]),
        check=False,
    )
    assert result.returncode != 0
    assert "selector" in result.stderr, result.stderr


def pod_from(workload: Manifest) -> Manifest:
    """The Pod the workload's controller would create (what Pod Security enforces on)."""
    template = pod_template(workload)
    spec = copy.deepcopy(template["spec"])
    name = workload["metadata"]["name"]
    for claim in workload["spec"].get("volumeClaimTemplates", []):
        claim_name = claim["metadata"]["name"]
        spec.setdefault("volumes", []).append(
            {"name": claim_name, "persistentVolumeClaim": {"claimName": f"{claim_name}-{name}-0"}}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"psa-{uuid.uuid4().hex[:8]}",
            "labels": template["metadata"].get("labels", {}),
        },
        "spec": spec,
    }


def dry_run_pod(kube: KubeControlPlane, pod: Manifest) -> Manifest:
    result: Manifest = kube.request(
        "POST", f"/api/v1/namespaces/{NAMESPACE}/pods?dryRun=All&fieldValidation=Strict", pod
    )
    return result


@pytest.mark.parametrize("workload", WORKLOADS)
def test_pod_security_restricted_admits_every_pod_template(
    cluster: KubeControlPlane, rendered: list[Manifest], workload: str
) -> None:
    assert {name for name, _ in pod_templates(rendered)} == set(WORKLOADS)
    kind, name = workload.split("/")
    admitted = dry_run_pod(cluster, pod_from(find(rendered, kind, name)))
    assert admitted["spec"]["containers"]


def test_pod_security_restricted_is_enforced_in_the_namespace(
    cluster: KubeControlPlane, rendered: list[Manifest]
) -> None:
    pod = pod_from(find(rendered, "Deployment", "mini-api"))
    pod["spec"]["containers"][0]["securityContext"].pop("capabilities")
    with pytest.raises(KubeAPIError) as rejected:
        dry_run_pod(cluster, pod)
    assert rejected.value.status == 403
    message = json.loads(rejected.value.body)["message"]
    assert 'violates PodSecurity "restricted:latest"' in message
    assert "capabilities" in message
