"""The API's ServiceAccount can do exactly what the code calls, nothing more: the verbs
are read off api/runners/ (every Kubernetes call the runner makes), the Role grants
exactly those, and the real control plane allows each and denies every other."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from api.runners.kubernetes import load_api_client
from core.settings import KubernetesSettings
from tests.kube.conftest import (
    API_SERVICE_ACCOUNT,
    NAMESPACE,
    PROCESSOR_SERVICE_ACCOUNT,
    RBAC_YAML,
    Cluster,
)

GRANTED = {
    ("batch", "jobs", None): {"create", "get", "list", "watch"},
    ("", "pods", None): {"list"},
    ("", "pods", "log"): {"get"},
}
RUNNERS = Path(__file__).resolve().parents[2] / "api" / "runners"
# The official client's method names, as the RBAC rule they need.
CALLS = {
    "create_namespaced_job": ("batch", "jobs", None, "create"),
    "read_namespaced_job": ("batch", "jobs", None, "get"),
    "list_namespaced_job": ("batch", "jobs", None, "list"),
    "delete_namespaced_job": ("batch", "jobs", None, "delete"),
    "patch_namespaced_job": ("batch", "jobs", None, "patch"),
    "replace_namespaced_job": ("batch", "jobs", None, "update"),
    "read_namespaced_pod": ("", "pods", None, "get"),
    "list_namespaced_pod": ("", "pods", None, "list"),
    "delete_namespaced_pod": ("", "pods", None, "delete"),
    "read_namespaced_pod_log": ("", "pods", "log", "get"),
    "read_namespaced_secret": ("", "secrets", None, "get"),
    "list_namespaced_event": ("", "events", None, "list"),
}


def used_by_the_code() -> set[tuple[str, str, str | None, str]]:
    used = set()
    for path in RUNNERS.glob("*.py"):
        text = path.read_text()
        for name, rule in CALLS.items():
            if re.search(rf"\b{name}\b", text):
                used.add(rule)
        # A watch is a list call with watch=True.
        for name in re.findall(r"\.(list_namespaced_\w+)\((?:[^()]|\([^()]*\))*?watch=True", text):
            group, resource, sub, _ = CALLS[name]
            used.add((group, resource, sub, "watch"))
    return used


def test_the_role_grants_exactly_what_the_code_calls() -> None:
    granted = {(g, r, s, v) for (g, r, s), verbs in GRANTED.items() for v in verbs}
    assert used_by_the_code() == granted


VERBS = ("get", "list", "watch", "create", "update", "patch", "delete", "deletecollection")
PROBED = [
    *GRANTED,
    ("", "pods", "exec"),
    ("", "pods", "eviction"),
    ("", "secrets", None),
    ("", "configmaps", None),
    ("", "serviceaccounts", None),
    ("", "serviceaccounts", "token"),
    ("batch", "cronjobs", None),
    ("batch", "jobs", "status"),
    ("apps", "deployments", None),
    ("rbac.authorization.k8s.io", "roles", None),
    ("rbac.authorization.k8s.io", "rolebindings", None),
]


@pytest.fixture(scope="module")
def as_api(cluster: Cluster) -> client.ApiClient:
    """The API's own credential, loaded the way the runner loads it."""
    return load_api_client(
        KubernetesSettings(namespace=NAMESPACE, kubeconfig=cluster.api_kubeconfig)
    )


def test_role_file_grants_exactly_the_issue_list() -> None:
    docs = [d for d in yaml.safe_load_all(RBAC_YAML.read_text()) if d]
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["Role", "RoleBinding", "ServiceAccount", "ServiceAccount"]
    (role,) = (d for d in docs if d["kind"] == "Role")
    granted = {
        (group, *resource.partition("/")[::2]): set(rule["verbs"])
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert {(g, r, s or None): v for (g, r, s), v in granted.items()} == GRANTED
    (binding,) = (d for d in docs if d["kind"] == "RoleBinding")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": API_SERVICE_ACCOUNT, "namespace": NAMESPACE}
    ]
    accounts = {d["metadata"]["name"]: d for d in docs if d["kind"] == "ServiceAccount"}
    processor = accounts[PROCESSOR_SERVICE_ACCOUNT]
    assert processor["automountServiceAccountToken"] is False


def _allowed(api: client.ApiClient, group: str, resource: str, sub: str | None, verb: str) -> bool:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(
                namespace=NAMESPACE, group=group, resource=resource, subresource=sub, verb=verb
            )
        )
    )
    answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
    assert answer.status is not None
    return bool(answer.status.allowed)


def test_api_token_is_authorised_for_the_role_and_nothing_else(as_api: client.ApiClient) -> None:
    who = client.AuthenticationV1Api(as_api).create_self_subject_review(
        client.V1SelfSubjectReview()
    )
    assert who.status is not None and who.status.user_info is not None
    assert who.status.user_info.username == (
        f"system:serviceaccount:{NAMESPACE}:{API_SERVICE_ACCOUNT}"
    )
    allowed = {
        (group, resource, sub, verb)
        for group, resource, sub in PROBED
        for verb in VERBS
        if _allowed(as_api, group, resource, sub, verb)
    }
    expected = {(g, r, s, v) for (g, r, s), verbs in GRANTED.items() for v in verbs}
    assert allowed == expected


def test_calls_outside_the_role_are_refused(cluster: Cluster, as_api: client.ApiClient) -> None:
    core = client.CoreV1Api(as_api)
    # Allowed: what the runner does.
    client.BatchV1Api(as_api).list_namespaced_job(NAMESPACE)
    core.list_namespaced_pod(NAMESPACE)
    refused = [
        lambda: core.create_namespaced_secret(
            NAMESPACE, client.V1Secret(metadata=client.V1ObjectMeta(name="stolen"))
        ),
        lambda: core.read_namespaced_secret("mini-secrets", NAMESPACE),
        lambda: core.delete_namespaced_pod("anything", NAMESPACE),
        lambda: core.create_namespaced_pod(
            NAMESPACE,
            client.V1Pod(
                metadata=client.V1ObjectMeta(name="direct"),
                spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="x")]),
            ),
        ),
        lambda: client.BatchV1Api(as_api).list_namespaced_job("default"),
        lambda: core.list_namespace(),
    ]
    for call in refused:
        with pytest.raises(ApiException) as denied:
            call()
        assert denied.value.status == 403, denied.value.body


def test_processor_account_has_no_rights_and_no_token(cluster: Cluster) -> None:
    account = cluster.core.read_namespaced_service_account(PROCESSOR_SERVICE_ACCOUNT, NAMESPACE)
    assert account.automount_service_account_token is False
    bindings = client.RbacAuthorizationV1Api(cluster.admin).list_namespaced_role_binding(NAMESPACE)
    subjects = {(s.kind, s.name) for b in bindings.items for s in b.subjects or []}
    assert ("ServiceAccount", PROCESSOR_SERVICE_ACCOUNT) not in subjects
    review = client.V1SubjectAccessReview(
        spec=client.V1SubjectAccessReviewSpec(
            user=f"system:serviceaccount:{NAMESPACE}:{PROCESSOR_SERVICE_ACCOUNT}",
            groups=["system:serviceaccounts", f"system:serviceaccounts:{NAMESPACE}"],
            resource_attributes=client.V1ResourceAttributes(
                namespace=NAMESPACE, group="batch", resource="jobs", verb="list"
            ),
        )
    )
    answer = client.AuthorizationV1Api(cluster.admin).create_subject_access_review(review)
    assert answer.status is not None and answer.status.allowed is False
