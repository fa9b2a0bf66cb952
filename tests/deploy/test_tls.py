"""`make deploy TLS=secret|cert-manager`: TLS on the ingress for mini.local, and the
API told that TLS is on (Secure cookies, HSTS), rendered by make deploy's own script."""

from __future__ import annotations

import subprocess

import pytest

from tests.deploy.manifests import find, parse, render_deploy_layer

IMAGES = ("reg.example/mini-pipeline-api:v1", "reg.example/mini-pipeline-processor:v1")


def test_without_tls_nothing_changes() -> None:
    manifests = parse(render_deploy_layer(*IMAGES))
    ingress = find(manifests, "Ingress", "mini-api")
    assert "tls" not in ingress["spec"]
    assert "MINI_TLS" not in find(manifests, "ConfigMap", "mini-config")["data"]
    assert not [m for m in manifests if m["kind"] == "Issuer"]


@pytest.mark.parametrize("mode", ["secret", "cert-manager"])
def test_tls_on_the_ingress_and_in_the_api(mode: str) -> None:
    manifests = parse(render_deploy_layer(*IMAGES, tls=mode))
    ingress = find(manifests, "Ingress", "mini-api")
    assert ingress["spec"]["tls"] == [{"hosts": ["mini.local"], "secretName": "mini-tls"}]
    hosts = [rule["host"] for rule in ingress["spec"]["rules"]]
    assert hosts == ["mini.local"]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/ssl-redirect"] == "true"
    # Uploads still stream through the proxy with TLS on.
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "off"
    assert find(manifests, "ConfigMap", "mini-config")["data"]["MINI_TLS"] == "true"
    issuers = [m for m in manifests if m["kind"] == "Issuer"]
    if mode == "cert-manager":
        assert annotations["cert-manager.io/issuer"] == "mini-issuer"
        assert [i["metadata"]["name"] for i in issuers] == ["mini-issuer"]
        assert issuers[0]["metadata"]["namespace"] == "mini-pipeline"
    else:
        assert "cert-manager.io/issuer" not in annotations and not issuers


def test_an_unknown_tls_mode_is_refused() -> None:
    with pytest.raises(subprocess.CalledProcessError) as refused:
        render_deploy_layer(*IMAGES, tls="yes")
    assert "TLS must be 'secret' or 'cert-manager'" in refused.value.stderr
