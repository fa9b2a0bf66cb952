"""`make deploy METRICS=prometheus` (k8s/components/prometheus): a PodMonitor that
selects the API pods' named port and /metrics, and the NetworkPolicy that lets a
Prometheus pod reach the API on 8000, and nothing else, which without it the base's
policies refuse."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.manifests import (
    NAMESPACE,
    Manifest,
    dump,
    find,
    kubectl_minor_version,
    parse,
    pod_template,
)
from tests.deploy.manifests import render_deploy_layer as render
from tests.deploy.netpol import Endpoint, allowed, selects

IMAGES = ("reg.example/mini-pipeline-api:v1", "reg.example/mini-pipeline-processor:v1")
# kube-prometheus-stack's Prometheus pod, in MicroK8s' observability add-on's namespace.
PROMETHEUS = Endpoint(
    "prometheus", "observability", {"app.kubernetes.io/name": "prometheus"}, ip="10.1.0.7"
)
NS_LABELS = {name: {"kubernetes.io/metadata.name": name} for name in (NAMESPACE, "observability")}


def endpoint(manifests: list[Manifest], workload: str, kind: str) -> Endpoint:
    labels = pod_template(find(manifests, kind, workload))["metadata"]["labels"]
    return Endpoint(workload, NAMESPACE, dict(labels))


def scrapes(manifests: list[Manifest], src: Endpoint, dst: Endpoint, port: int) -> bool:
    policies = [m for m in manifests if m["kind"] == "NetworkPolicy"]
    return allowed(policies, src, dst, port, NS_LABELS)


def test_prometheus_may_scrape_the_api_and_only_the_api() -> None:
    manifests = parse(render(*IMAGES, metrics="prometheus"))
    api = endpoint(manifests, "mini-api", "Deployment")
    assert scrapes(manifests, PROMETHEUS, api, 8000)
    assert not scrapes(manifests, PROMETHEUS, endpoint(manifests, "minio", "StatefulSet"), 9000)
    assert not scrapes(manifests, PROMETHEUS, endpoint(manifests, "postgres", "StatefulSet"), 5432)
    stranger = Endpoint("stranger", "observability", {"app": "grafana"}, ip="10.1.0.8")
    assert not scrapes(manifests, stranger, api, 8000)
    # Without the component the base's policies keep Prometheus out.
    plain = parse(render(*IMAGES))
    assert not scrapes(plain, PROMETHEUS, endpoint(plain, "mini-api", "Deployment"), 8000)
    assert not [m for m in plain if m["kind"] == "PodMonitor"]


def test_the_pod_monitor_selects_the_api_port_and_path() -> None:
    manifests = parse(render(*IMAGES, metrics="prometheus"))
    monitor = find(manifests, "PodMonitor", "mini-api")
    assert monitor["metadata"]["namespace"] == NAMESPACE
    assert monitor["metadata"]["labels"]["release"] == "kube-prom-stack"
    template = pod_template(find(manifests, "Deployment", "mini-api"))
    assert selects(monitor["spec"]["selector"], template["metadata"]["labels"])
    (endpoint_,) = monitor["spec"]["podMetricsEndpoints"]
    (container,) = template["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports[endpoint_["port"]] == 8000 and endpoint_["path"] == "/metrics"
    # The scrape annotations say the same, for an annotation-driven Prometheus.
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == "8000"
    assert annotations["prometheus.io/path"] == endpoint_["path"]
    policy = find(manifests, "NetworkPolicy", "allow-prometheus-to-api")
    assert policy["metadata"]["namespace"] == NAMESPACE


def test_with_tls_both_components_apply() -> None:
    manifests = parse(render(*IMAGES, tls="secret", metrics="prometheus"))
    assert find(manifests, "Ingress", "mini-api")["spec"]["tls"]
    assert find(manifests, "PodMonitor", "mini-api")


def test_an_unknown_metrics_mode_is_refused() -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render(*IMAGES, metrics="yes")
    assert "METRICS must be 'prometheus'" in str(refused.value.stderr)


def test_the_network_policy_is_valid(tmp_path: Path) -> None:
    # The PodMonitor is a CRD's (its schema is the Prometheus Operator's, not here).
    manifests = parse(render(*IMAGES, metrics="prometheus"))
    policy = tmp_path / "policy.yaml"
    policy.write_text(dump([find(manifests, "NetworkPolicy", "allow-prometheus-to-api")]))
    validate = Path(sys.executable).parent / "kubernetes-validate"
    done = subprocess.run(
        [str(validate), "-k", kubectl_minor_version(), "--strict", str(policy)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "WARN" not in done.stdout + done.stderr, done.stdout
