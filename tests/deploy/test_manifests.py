"""k8s/overlays/microk8s as rendered by `kubectl kustomize`, checked offline.

The server-side checks (dry-run apply, Pod Security admission) are in
test_cluster.py; these cover what no admission controller looks at.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .manifests import (
    NAMESPACE,
    Manifest,
    containers,
    find,
    kubectl_minor_version,
    parse,
    pod_template,
    pod_templates,
    render_deploy_layer,
    secret_refs,
)
from .netpol import Endpoint, allowed, selects

VENV_BIN = Path(sys.executable).parent
RESOURCE_KEYS = ("cpu", "memory", "ephemeral-storage")
SECRET_LIKE = re.compile(r"PASSWORD|SECRET_KEY|ACCESS_KEY|API_KEYS|TOKEN|DATABASE_URL", re.I)
NGINX_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3}


def test_kubernetes_validate_strict(rendered_text: str, tmp_path: Path) -> None:
    manifest = tmp_path / "microk8s.yaml"
    manifest.write_text(rendered_text)
    version = kubectl_minor_version()
    result = subprocess.run(
        [str(VENV_BIN / "kubernetes-validate"), "-k", version, "--strict", str(manifest)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WARN" not in result.stdout + result.stderr, result.stdout + result.stderr


def test_everything_lives_in_one_restricted_namespace(rendered: list[Manifest]) -> None:
    namespace = find(rendered, "Namespace", NAMESPACE)
    labels = namespace["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    assert labels["pod-security.kubernetes.io/warn"] == "restricted"
    for m in rendered:
        if m["kind"] != "Namespace":
            assert m["metadata"].get("namespace") == NAMESPACE, m["metadata"]["name"]
    # No cluster-wide rights anywhere.
    kinds = {m["kind"] for m in rendered}
    assert not kinds & {"ClusterRole", "ClusterRoleBinding"}


def test_no_secret_values_are_committed(rendered: list[Manifest]) -> None:
    assert not [m for m in rendered if m["kind"] == "Secret"]
    for m in rendered:
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "mini-config":
            leaked = [k for k in m["data"] if SECRET_LIKE.search(k)]
            assert not leaked, f"belongs in the Secret: {leaked}"


@pytest.mark.parametrize(
    "workload",
    [
        "Deployment/mini-api",
        "StatefulSet/minio",
        "StatefulSet/postgres",
        "Job/minio-init",
        "CronJob/mini-reconciler",
    ],
)
def test_every_pod_is_hardened(rendered: list[Manifest], workload: str) -> None:
    templates = dict(pod_templates(rendered))
    assert set(templates) == {
        "Deployment/mini-api",
        "StatefulSet/minio",
        "StatefulSet/postgres",
        "Job/minio-init",
        "CronJob/mini-reconciler",
    }
    spec = templates[workload]["spec"]
    pod_sc = spec["securityContext"]
    assert pod_sc["runAsNonRoot"] is True
    assert isinstance(pod_sc["runAsUser"], int) and pod_sc["runAsUser"] > 0
    assert isinstance(pod_sc["runAsGroup"], int) and pod_sc["runAsGroup"] > 0
    assert pod_sc["seccompProfile"] == {"type": "RuntimeDefault"}
    if any("persistentVolumeClaim" in v for v in spec.get("volumes", [])) or workload.startswith(
        "StatefulSet"
    ):
        assert pod_sc.get("fsGroup") == pod_sc["runAsGroup"]
    if workload != "Deployment/mini-api":
        # Only the API talks to the Kubernetes API.
        assert spec["automountServiceAccountToken"] is False
    emptydirs = {v["name"] for v in spec.get("volumes", []) if "emptyDir" in v}
    for c in containers(templates[workload]):
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"] == {"drop": ["ALL"]}
        assert not sc.get("privileged")
        for bound in ("requests", "limits"):
            assert set(RESOURCE_KEYS) <= set(c["resources"][bound]), (c["name"], bound)
        assert c["imagePullPolicy"] == "IfNotPresent"
        name, _, tag = c["image"].rpartition(":")
        assert name and tag and tag != "latest" and "/" not in tag, c["image"]
        tmp = [m for m in c["volumeMounts"] if m["mountPath"] == "/tmp"]
        assert tmp and tmp[0]["name"] in emptydirs, "a writable /tmp on an emptyDir"


def test_third_party_images_are_pinned_releases(rendered: list[Manifest]) -> None:
    images = {c["image"] for _, t in pod_templates(rendered) for c in containers(t)}
    minio = [i for i in images if "/minio/" in i]
    assert minio and all(re.search(r":RELEASE\.\d{4}-\d\d-\d\dT", i) for i in minio), minio
    postgres = [i for i in images if i.startswith("postgres:")]
    assert postgres and all(re.fullmatch(r"postgres:\d+\.\d+-\w+", i) for i in postgres)


def test_api_deployment_probes_replicas_and_disruption_budget(rendered: list[Manifest]) -> None:
    deployment = find(rendered, "Deployment", "mini-api")
    assert deployment["spec"]["replicas"] == 2
    template = pod_template(deployment)
    assert template["spec"]["serviceAccountName"] == "mini-api"
    (api,) = template["spec"]["containers"]
    assert api["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert api["readinessProbe"]["httpGet"]["path"] == "/readyz"
    port_names = {p["name"]: p["containerPort"] for p in api["ports"]}
    config = find(rendered, "ConfigMap", "mini-config")["data"]
    assert port_names[api["readinessProbe"]["httpGet"]["port"]] == int(config["MINI_PORT"])
    assert config["MINI_HOST"] == "0.0.0.0"

    # Prometheus' kubernetes-pods job scrapes /metrics on the port the API listens on.
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    assert int(annotations["prometheus.io/port"]) == int(config["MINI_PORT"])
    assert int(config["MINI_PORT"]) in port_names.values()

    pdb = find(rendered, "PodDisruptionBudget", "mini-api")
    assert pdb["spec"]["minAvailable"] == 1
    assert selects(pdb["spec"]["selector"], template["metadata"]["labels"])
    assert selects(deployment["spec"]["selector"], template["metadata"]["labels"])


def nginx_size(value: str) -> int:
    m = re.fullmatch(r"(\d+)([kmg]?)", value.lower())
    assert m, f"not an nginx size: {value!r}"
    return int(m.group(1)) * NGINX_UNITS[m.group(2)]


def test_ingress_routes_mini_local_to_the_api_and_streams_uploads(
    rendered: list[Manifest],
) -> None:
    ingress = find(rendered, "Ingress", "mini-api")
    assert ingress["spec"]["ingressClassName"] == "public"
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    limit = int(find(rendered, "ConfigMap", "mini-config")["data"]["MINI_MAX_UPLOAD_BYTES"])
    assert nginx_size(annotations["nginx.ingress.kubernetes.io/proxy-body-size"]) == limit

    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "mini.local"
    (path,) = rule["http"]["paths"]
    assert (path["path"], path["pathType"]) == ("/", "Prefix")
    backend = path["backend"]["service"]
    service = find(rendered, "Service", backend["name"])
    (svc_port,) = [p for p in service["spec"]["ports"] if p["name"] == backend["port"]["name"]]
    api = pod_template(find(rendered, "Deployment", "mini-api"))
    assert selects({"matchLabels": service["spec"]["selector"]}, api["metadata"]["labels"])
    container_ports = {p["name"] for p in api["spec"]["containers"][0]["ports"]}
    assert svc_port["targetPort"] in container_ports


def test_config_points_at_the_in_cluster_services(rendered: list[Manifest]) -> None:
    config = find(rendered, "ConfigMap", "mini-config")["data"]
    assert config["MINI_STORAGE__BACKEND"] == "s3"
    assert config["MINI_RUNNER__BACKEND"] == "kubernetes"
    host, port = config["MINI_STORAGE__ENDPOINT"].split(":")
    minio = find(rendered, "Service", host)
    assert int(port) in {p["port"] for p in minio["spec"]["ports"]}
    runner_sa = config["MINI_RUNNER__KUBERNETES__SERVICE_ACCOUNT"]
    assert find(rendered, "ServiceAccount", runner_sa)
    assert find(rendered, "ConfigMap", config["MINI_RUNNER__KUBERNETES__CONFIG_MAP"])
    # Jobs run the processor image this overlay deploys (the reconciler's).
    reconciler = pod_template(find(rendered, "CronJob", "mini-reconciler"))
    assert config["MINI_RUNNER__KUBERNETES__IMAGE"] == reconciler["spec"]["containers"][0]["image"]


def test_reconciler_runs_the_processor_without_api_rights(rendered: list[Manifest]) -> None:
    cron = find(rendered, "CronJob", "mini-reconciler")
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    spec = pod_template(cron)["spec"]
    assert spec["containers"][0]["command"] == ["python", "-m", "processor", "reconcile"]
    assert spec["serviceAccountName"] == "mini-processor"
    bound = {
        s["name"]
        for m in rendered
        if m["kind"] == "RoleBinding"
        for s in m.get("subjects", [])
        if s["kind"] == "ServiceAccount"
    }
    assert "mini-processor" not in bound


def test_make_deploy_layer_sets_built_images_everywhere() -> None:
    api_image = "localhost:32000/mini-pipeline-api:v9.9.9-3-gabcdef0-dirty"
    processor_image = "localhost:32000/mini-pipeline-processor:v9.9.9-3-gabcdef0-dirty"
    manifests = parse(render_deploy_layer(api_image, processor_image))
    images = {name: {c["image"] for c in containers(t)} for name, t in pod_templates(manifests)}
    assert images["Deployment/mini-api"] == {api_image}
    assert images["CronJob/mini-reconciler"] == {processor_image}
    config = find(manifests, "ConfigMap", "mini-config")["data"]
    assert config["MINI_RUNNER__KUBERNETES__IMAGE"] == processor_image


# -- NetworkPolicies ---------------------------------------------------------------

NS_LABELS = {
    name: {"kubernetes.io/metadata.name": name}
    for name in (NAMESPACE, "kube-system", "ingress", "default")
}
APISERVER_PORTS = (443, 6443, 16443)


def endpoints(rendered: list[Manifest]) -> dict[str, Endpoint]:
    from api.runners.k8s_job import labels as processor_job_labels

    pods = {
        name.split("/")[1]: Endpoint(name, NAMESPACE, dict(t["metadata"]["labels"]))
        for name, t in pod_templates(rendered)
    }
    return {
        "api": pods["mini-api"],
        "minio": pods["minio"],
        "postgres": pods["postgres"],
        "minio-init": pods["minio-init"],
        "reconciler": pods["mini-reconciler"],
        # The labels the API's runner really puts on processor pods.
        "processor": Endpoint("processor", NAMESPACE, processor_job_labels("0" * 32)),
        "ingress-controller": Endpoint(
            "ingress", "ingress", {"name": "nginx-ingress-microk8s"}, ip="10.1.0.2"
        ),
        "stranger": Endpoint("stranger", "default", {"app": "x"}, ip="10.1.0.3"),
        "kube-dns": Endpoint("dns", "kube-system", {"k8s-app": "kube-dns"}, ip="10.1.0.4"),
        # MicroK8s: the apiserver listens on the host, outside the pod network.
        "apiserver": Endpoint("apiserver", "", {}, ip="192.168.1.10"),
    }


EXPECTED_FLOWS = {
    ("ingress-controller", "api", 8000),
    ("api", "minio", 9000),
    ("api", "postgres", 5432),
    *(("api", "apiserver", p) for p in APISERVER_PORTS),
    ("processor", "minio", 9000),
    ("reconciler", "minio", 9000),
    ("reconciler", "postgres", 5432),
    ("minio-init", "minio", 9000),
}
PORTS = (8000, 9000, 5432, *APISERVER_PORTS, 80)


def test_network_policies_allow_exactly_the_intended_flows(rendered: list[Manifest]) -> None:
    policies = [m for m in rendered if m["kind"] == "NetworkPolicy"]
    eps = endpoints(rendered)
    actual = {
        (s, d, port)
        for s in eps
        for d in eps
        if s != d and d != "kube-dns"
        for port in PORTS
        # Flows between two outside endpoints are none of our policies' business.
        if NAMESPACE in (eps[s].namespace, eps[d].namespace)
        and allowed(policies, eps[s], eps[d], port, NS_LABELS)
    }
    assert actual == EXPECTED_FLOWS


def test_every_pod_may_resolve_names_and_nothing_else_on_port_53(
    rendered: list[Manifest],
) -> None:
    policies = [m for m in rendered if m["kind"] == "NetworkPolicy"]
    eps = endpoints(rendered)
    ours = [e for e in eps.values() if e.namespace == NAMESPACE]
    for ep in ours:
        for proto in ("UDP", "TCP"):
            assert allowed(policies, ep, eps["kube-dns"], 53, NS_LABELS, proto), ep.name
        assert not allowed(policies, ep, eps["stranger"], 53, NS_LABELS, "UDP"), ep.name


def test_workloads_read_only_the_secrets_make_deploy_creates(rendered: list[Manifest]) -> None:
    refs = secret_refs(rendered)
    assert set(refs) == {
        "mini-secrets",
        "mini-infra-secrets",
        "mini-reconciler-secrets",
    }
    # Each workload its own: the API the whole application Secret, the reconciler
    # its own, the processor Jobs (built by the API) only the S3 keys.
    by_template = {
        name: {
            s["secretRef"]["name"]
            for c in containers(t)
            for s in c.get("envFrom", [])
            if "secretRef" in s
        }
        for name, t in pod_templates(rendered)
    }
    assert by_template["Deployment/mini-api"] == {"mini-secrets"}
    assert by_template["CronJob/mini-reconciler"] == {"mini-reconciler-secrets"}
    config = find(rendered, "ConfigMap", "mini-config")["data"]
    assert config["MINI_RUNNER__KUBERNETES__SECRET"] == "mini-processor-secrets"
    # Only the API and the processor (reconciler) get the application Secret whole.
    whole = {
        name
        for name, t in pod_templates(rendered)
        for c in containers(t)
        for s in c.get("envFrom", [])
        if "secretRef" in s
    }
    assert whole == {"Deployment/mini-api", "CronJob/mini-reconciler"}


def test_minio_init_script_parses_and_writes_a_valid_policy(
    rendered: list[Manifest], tmp_path: Path
) -> None:
    script = find(rendered, "ConfigMap", "minio-init")["data"]["init.sh"]
    path = tmp_path / "init.sh"
    path.write_text(script)
    syntax = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    # The heredoc the script writes, with the buckets the ConfigMap names.
    body = re.search(r"<<JSON\n(.*?)\nJSON\n", script, re.S)
    assert body, "policy heredoc not found"
    config = find(rendered, "ConfigMap", "mini-config")["data"]
    raw, processed = (
        config["MINI_STORAGE__RAW_BUCKET"],
        config["MINI_STORAGE__PROCESSED_BUCKET"],
    )
    policy = json.loads(body.group(1).replace("$raw", raw).replace("$processed", processed))
    resources = {r for s in policy["Statement"] for r in s["Resource"]}
    assert {f"arn:aws:s3:::{raw}/*", f"arn:aws:s3:::{processed}/*"} <= resources
    assert not any(s["Action"] == ["s3:*"] or s["Action"] == "s3:*" for s in policy["Statement"])
