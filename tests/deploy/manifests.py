"""The rendered deployment, as the cluster would receive it: `kubectl kustomize`."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.servers.kube import BIN_DIR, kube_binaries

ROOT = Path(__file__).resolve().parents[2]
OVERLAY = ROOT / "k8s" / "overlays" / "microk8s"
DEPLOY_SCRIPT = ROOT / "scripts" / "deploy.sh"
NAMESPACE = "mini-pipeline"
KUBECTL = BIN_DIR / "kubectl"
WORKLOADS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")

Manifest = dict[str, Any]


def kubectl_path() -> Path:
    if not os.access(KUBECTL, os.X_OK):
        kube_binaries()  # builds kubectl with the rest of the control plane
    return KUBECTL


def kubectl_minor_version() -> str:
    """'1.35.0' for a v1.35.x kubectl: the schema set kubernetes-validate checks against."""
    out = subprocess.run(
        [str(kubectl_path()), "version", "--client", "-o", "json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    major, minor = json.loads(out)["clientVersion"]["gitVersion"].lstrip("v").split(".")[:2]
    return f"{major}.{minor}.0"


def parse(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render(path: Path = OVERLAY) -> str:
    return subprocess.run(
        [str(kubectl_path()), "kustomize", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def render_deploy_layer(
    api_image: str, processor_image: str, tls: str = "", metrics: str = ""
) -> str:
    """What `make deploy` applies: the overlay plus the images make build tagged (and
    `make deploy TLS=... METRICS=...`'s components)."""
    env = {
        **os.environ,
        "KUBECTL": str(kubectl_path()),
        "API_IMAGE": api_image,
        "PROCESSOR_IMAGE": processor_image,
        "TLS": tls,
        "METRICS": metrics,
    }
    return subprocess.run(
        ["bash", str(DEPLOY_SCRIPT), "render"],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    ).stdout


def find(manifests: list[Manifest], kind: str, name: str) -> Manifest:
    found = [m for m in manifests if m["kind"] == kind and m["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def pod_template(workload: Manifest) -> Manifest:
    """The pod template (metadata + spec) of any workload kind."""
    spec = workload["spec"]
    if workload["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    return dict(spec["template"])


def pod_templates(manifests: list[Manifest]) -> Iterator[tuple[str, Manifest]]:
    for m in manifests:
        if m["kind"] in WORKLOADS:
            yield f"{m['kind']}/{m['metadata']['name']}", pod_template(m)


def containers(template: Manifest) -> list[Manifest]:
    spec = template["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def secret_refs(manifests: list[Manifest]) -> dict[str, set[str]]:
    """Secret name -> keys the workloads read; '*' for a whole-Secret envFrom."""
    refs: dict[str, set[str]] = {}
    for _, template in pod_templates(manifests):
        for c in containers(template):
            for source in c.get("envFrom", []):
                if "secretRef" in source:
                    refs.setdefault(source["secretRef"]["name"], set()).add("*")
            for var in c.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    refs.setdefault(ref["name"], set()).add(ref["key"])
        for volume in template["spec"].get("volumes", []):
            if "secret" in volume:
                refs.setdefault(volume["secret"]["secretName"], set()).add("*")
    return refs


def kubectl_on(
    kubeconfig: Path, *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    """.bin/kubectl against one cluster, optionally feeding manifests on stdin."""
    result = subprocess.run(
        [str(kubectl_path()), f"--kubeconfig={kubeconfig}", *args],
        input=stdin,
        capture_output=True,
        text=True,
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"kubectl {' '.join(args)} exited {result.returncode}:\n{result.stdout}{result.stderr}"
        )
    return result


def dump(manifests: list[Manifest]) -> str:
    text: str = yaml.safe_dump_all(manifests, sort_keys=False)
    return text
