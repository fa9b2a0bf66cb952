"""`make deploy` and `make undeploy` against a real kube-apiserver.

The fake node runs no containers, so the rollout wait is skipped (WAIT=0);
everything up to it is real: the namespace, the Secrets generated once, the
apply of every object with the images `make build` tags, and the deletion.
"""

from __future__ import annotations

import base64
import os
import re
import subprocess
import time
from urllib.parse import urlsplit

import pytest

from tests.servers.kube import KubeAPIError, KubeControlPlane

from .manifests import (
    NAMESPACE,
    ROOT,
    Manifest,
    containers,
    find,
    kubectl_on,
    kubectl_path,
    pod_template,
    secret_refs,
)

TAG = "v0.0.0-test"
RANDOM_HEX = re.compile(r"[0-9a-f]{48}")


def make(
    kube: KubeControlPlane, target: str, check: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [
            "make",
            "--no-print-directory",
            target,
            f"KUBECTL={kubectl_path()} --kubeconfig={kube.kubeconfig_path}",
            f"TAG={TAG}",
        ],
        cwd=ROOT,
        env={**os.environ, "WAIT": "0"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def secret_data(kube: KubeControlPlane, name: str) -> tuple[dict[str, str], str]:
    secret = kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    data = {k: base64.b64decode(v).decode() for k, v in secret["data"].items()}
    return data, secret["metadata"]["resourceVersion"]


def test_make_deploy_creates_secrets_once_applies_everything_and_undeploy_removes_it(
    kube: KubeControlPlane, rendered: list[Manifest]
) -> None:
    first = make(kube, "deploy")
    assert "API key" in first.stdout
    app, app_version = secret_data(kube, "mini-secrets")
    infra, infra_version = secret_data(kube, "mini-infra-secrets")

    processor, processor_version = secret_data(kube, "mini-processor-secrets")
    reconciler, reconciler_version = secret_data(kube, "mini-reconciler-secrets")
    # The processor Jobs get the S3 keys and nothing else; the reconciler those and the
    # database URL; both the API's values.
    s3_keys = {k: app[k] for k in ("MINI_STORAGE__ACCESS_KEY", "MINI_STORAGE__SECRET_KEY")}
    assert processor == s3_keys
    assert reconciler == {**s3_keys, "MINI_DATABASE_URL": app["MINI_DATABASE_URL"]}

    # Every key a workload reads exists, and nothing secret reached the output.
    secrets = {
        "mini-secrets": app,
        "mini-infra-secrets": infra,
        "mini-processor-secrets": processor,
        "mini-reconciler-secrets": reconciler,
    }
    for name, keys in secret_refs(rendered).items():
        assert keys - {"*"} <= set(secrets[name]), (name, keys)
    for value in (*app.values(), *infra.values()):
        assert value and value not in first.stdout + first.stderr
    for key in ("MINI_API_KEYS", "MINI_STORAGE__SECRET_KEY", "MINI_WEBHOOKS__SECRET"):
        assert RANDOM_HEX.fullmatch(app[key]), key
    for key in ("MINIO_ROOT_PASSWORD", "POSTGRES_PASSWORD"):
        assert RANDOM_HEX.fullmatch(infra[key]), key
    generated = {
        app["MINI_API_KEYS"],
        app["MINI_STORAGE__SECRET_KEY"],
        app["MINI_WEBHOOKS__SECRET"],
        infra["POSTGRES_PASSWORD"],
    }
    assert len(generated) == 4
    url = urlsplit(app["MINI_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert url.password == infra["POSTGRES_PASSWORD"]
    assert (url.hostname, url.port) == ("postgres", 5432)
    find(rendered, "Service", "postgres")
    assert app["MINI_STORAGE__ACCESS_KEY"] != infra["MINIO_ROOT_USER"], "not MinIO's root user"

    # Every rendered object exists, with the images of this TAG.
    for m in rendered:
        kind = m["kind"].lower()
        kubectl_on(kube.kubeconfig_path, "get", "-n", NAMESPACE, f"{kind}/{m['metadata']['name']}")
    deployment = kube.request("GET", f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments/mini-api")
    assert [c["image"] for c in containers(pod_template(deployment))] == [
        f"mini-pipeline-api:{TAG}"
    ]
    config = kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/configmaps/mini-config")
    assert config["data"]["MINI_RUNNER__KUBERNETES__IMAGE"] == f"mini-pipeline-processor:{TAG}"

    # A second deploy keeps the Secrets: the database and MinIO hold their values.
    second = make(kube, "deploy")
    assert "Secrets exist, kept" in second.stdout
    assert secret_data(kube, "mini-secrets") == (app, app_version)
    assert secret_data(kube, "mini-infra-secrets") == (infra, infra_version)
    assert secret_data(kube, "mini-processor-secrets") == (processor, processor_version)
    assert secret_data(kube, "mini-reconciler-secrets") == (reconciler, reconciler_version)

    # A deployment made before the split gets the two smaller Secrets from mini-secrets.
    for name in ("mini-processor-secrets", "mini-reconciler-secrets"):
        kube.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/secrets/{name}")
    upgraded = make(kube, "deploy")
    assert "splitting the processor's and the reconciler's Secrets" in upgraded.stdout
    assert secret_data(kube, "mini-processor-secrets")[0] == processor
    assert secret_data(kube, "mini-reconciler-secrets")[0] == reconciler
    for value in (*processor.values(), *reconciler.values()):
        assert value not in upgraded.stdout + upgraded.stderr

    # Half a pair is refused rather than regenerated out of step with the database.
    kube.request("DELETE", f"/api/v1/namespaces/{NAMESPACE}/secrets/mini-infra-secrets")
    half = make(kube, "deploy", check=False)
    assert half.returncode != 0
    assert "mini-secrets" in half.stderr and "delete it and re-run" in half.stderr
    with pytest.raises(KubeAPIError):
        secret_data(kube, "mini-infra-secrets")

    make(kube, "undeploy")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}")
        except KubeAPIError as exc:
            assert exc.status == 404
            break
        time.sleep(1)
    else:
        pytest.fail(f"namespace {NAMESPACE} still exists 120s after make undeploy")
