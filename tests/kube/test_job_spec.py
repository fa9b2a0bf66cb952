"""build_job and the status rules, then the Job's pod against a restricted namespace."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from api.runners.k8s_job import (
    belongs_to,
    build_job,
    dataset_of,
    ephemeral_storage,
    is_small,
    job_name,
    unpack_cap,
)
from api.runners.k8s_status import (
    decide,
    failed_attempts,
    failure_message,
    is_finished,
    outcome,
    waiting_reason,
)
from core.catalog import Dataset, Status, new_dataset_id
from core.settings import KubernetesSettings
from tests.kube.conftest import CONFIG_MAP, NAMESPACE, SECRET, Cluster


def dataset(**options: object) -> Dataset:
    dataset_id = new_dataset_id()
    return Dataset(
        id=dataset_id,
        filename="x.csv",
        raw_key=f"{dataset_id}/source.csv",
        sha256="0" * 64,
        size_bytes=10,
        status=Status.queued,
        error=None,
        options=dict(options),
        rows_in=None,
        rows_out=None,
        rows_rejected=None,
        attempts=0,
        created_at=datetime.now(UTC),
        started_at=None,
        finished_at=None,
    )


SETTINGS = KubernetesSettings(
    namespace="jobs",
    image="registry.example/proc:1.2.3",
    service_account="proc-sa",
    config_map="cfg",
    secret="sec",
    backoff_limit=2,
    active_deadline_seconds=900,
    ttl_seconds_after_finished=120,
    cpu_request="100m",
    memory_request="128Mi",
    cpu_limit="1",
    memory_limit="1Gi",
    # Every upload here is large, unless a test says otherwise (small uploads' sizing
    # has its own test).
    small_upload_bytes=0,
    tmp_size_limit="3Gi",
    run_as_user=4242,
    node_selector={"disk": "ssd"},
    tolerations=[{"key": "dedicated", "operator": "Equal", "value": "etl", "effect": "NoSchedule"}],
)


def test_job_has_every_property_the_issue_asks_for() -> None:
    ds = dataset(delimiter=";", header_row=2)
    job = build_job(ds, SETTINGS)
    wire = client.ApiClient().sanitize_for_serialization(job)

    assert wire["metadata"]["name"] == f"mini-proc-{ds.id}"
    assert len(wire["metadata"]["name"]) <= 63
    assert wire["metadata"]["namespace"] == "jobs"
    labels = {
        "app.kubernetes.io/name": "mini-pipeline",
        "app.kubernetes.io/component": "processor",
        "mini-pipeline/dataset-id": ds.id,
    }
    assert wire["metadata"]["labels"] == labels
    spec = wire["spec"]
    assert spec["backoffLimit"] == 2
    assert spec["activeDeadlineSeconds"] == 900
    assert spec["ttlSecondsAfterFinished"] == 120
    assert spec["podFailurePolicy"] == {
        "rules": [
            {
                "action": "FailJob",
                "onExitCodes": {"containerName": "processor", "operator": "In", "values": [2]},
            },
            {
                "action": "Ignore",
                "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
            },
        ]
    }
    pod = spec["template"]["spec"]
    assert spec["template"]["metadata"]["labels"] == labels
    assert pod["restartPolicy"] == "Never"
    assert pod["serviceAccountName"] == "proc-sa"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 4242,
        "runAsGroup": 4242,
        "fsGroup": 4242,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert pod["nodeSelector"] == {"disk": "ssd"}
    assert pod["tolerations"] == SETTINGS.tolerations
    # A 10-byte upload: 256 MiB over 1.2x the input, limit 1 GiB over 1.5x (under 3Gi).
    assert pod["volumes"] == [{"name": "tmp", "emptyDir": {"sizeLimit": "1025Mi"}}]
    (container,) = pod["containers"]
    assert container["image"] == "registry.example/proc:1.2.3"
    assert container["command"][:6] == ["python", "-m", "processor", "run", "--dataset-id", ds.id]
    assert json.loads(container["command"][7]) == {"delimiter": ";", "header_row": 2}
    assert container["envFrom"] == [
        {"configMapRef": {"name": "cfg"}},
        {"secretRef": {"name": "sec"}},
    ]
    env = {e["name"]: e["value"] for e in container["env"]}
    assert env["MINI_PROCESSOR__UPDATE_CATALOG"] == "false"
    assert container["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi", "ephemeral-storage": "257Mi"},
        "limits": {"cpu": "1", "memory": "1Gi", "ephemeral-storage": "1025Mi"},
    }
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "runAsUser": 4242,
        "runAsGroup": 4242,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    assert container["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}]


@pytest.mark.parametrize(
    ("size", "ceiling", "wanted", "limit"),
    [
        (0, "12Gi", "256Mi", "1024Mi"),
        (5 * 2**30, "12Gi", "6400Mi", "8704Mi"),  # the 5 GiB upload limit
        (10 * 2**30, "12Gi", "12288Mi", "12288Mi"),  # capped by TMP_SIZE_LIMIT
        (100 * 2**20, "500M", "376Mi", "477Mi"),  # decimal units
    ],
)
def test_ephemeral_storage_is_sized_from_the_upload(
    size: int, ceiling: str, wanted: str, limit: str
) -> None:
    ds = dataclasses.replace(dataset(), size_bytes=size)
    settings = SETTINGS.model_copy(update={"tmp_size_limit": ceiling})
    assert ephemeral_storage(size, settings) == (wanted, limit)
    pod = build_job(ds, settings).spec.template.spec  # type: ignore[union-attr]
    resources = pod.containers[0].resources
    assert resources.requests["ephemeral-storage"] == wanted
    assert resources.limits["ephemeral-storage"] == limit
    assert pod.volumes[0].empty_dir.size_limit == limit


def test_options_stay_off_the_command_line_when_there_are_none() -> None:
    ds = dataset()
    container = build_job(ds, SETTINGS).spec.template.spec.containers[0]  # type: ignore[union-attr]
    assert container.command == ["python", "-m", "processor", "run", "--dataset-id", ds.id]


@pytest.mark.parametrize("bad", ["", "../etc", "ABCDEF0123456789ABCDEF0123456789", "a" * 40])
def test_job_name_only_for_dataset_ids(bad: str) -> None:
    with pytest.raises(ValueError):
        job_name(bad)


def test_ownership_is_by_labels_not_by_name() -> None:
    ds, other = dataset(), dataset()
    job = build_job(ds, SETTINGS)
    assert dataset_of(job) == ds.id
    assert belongs_to(job, ds.id)
    assert not belongs_to(job, other.id)
    # Same name, someone else's labels: not ours.
    assert job.metadata is not None
    job.metadata.labels = {"app.kubernetes.io/name": "mini-pipeline", "team": "x"}
    assert dataset_of(job) is None
    assert not belongs_to(job, ds.id)


def job_with(*conds: tuple[str, str], failed: int = 0) -> client.V1Job:
    job = build_job(dataset(), SETTINGS)
    job.status = client.V1JobStatus(
        failed=failed,
        conditions=[
            client.V1JobCondition(type=kind, status="True", reason=reason, message=f"{reason}!")
            for kind, reason in conds
        ],
    )
    return job


def test_outcome_uses_interim_conditions_first() -> None:
    assert outcome(job_with()) is None
    early = job_with(("SuccessCriteriaMet", "CompletionsReached"))
    ended = outcome(early)
    assert ended is not None and ended.succeeded
    assert not is_finished(early)
    assert is_finished(job_with(("SuccessCriteriaMet", "x"), ("Complete", "x")))
    failing = outcome(job_with(("FailureTarget", "PodFailurePolicy")))
    assert failing is not None and not failing.succeeded
    assert failing.reason == "PodFailurePolicy"
    old_style = outcome(job_with(("Failed", "DeadlineExceeded")))
    assert old_style is not None and old_style.reason == "DeadlineExceeded"


def test_ready_only_from_the_manifest() -> None:
    job = job_with(("SuccessCriteriaMet", "CompletionsReached"))
    ended = outcome(job)
    assert ended is not None
    manifest = {"status": "ready", "rows_in": 3, "rows_out": 3, "rows_rejected": 0}
    assert decide(job, ended, manifest, failed=0, code=0, last_line=None) == manifest
    missing = decide(job, ended, None, failed=0, code=0, last_line="done")
    assert missing["status"] == "failed"
    assert "wrote no result manifest" in missing["error"]


def test_failure_messages_say_why() -> None:
    job = job_with(("FailureTarget", "BackoffLimitExceeded"), failed=1)
    ended = outcome(job)
    assert ended is not None
    processor_said = {"status": "failed", "error": "the file is empty"}
    assert decide(job, ended, processor_said, failed=3, code=2, last_line="x") == processor_said
    # The Job's own count lags behind FailureTarget: the failed pods are counted too.
    failed_pods = [client.V1Pod(status=client.V1PodStatus(phase="Failed")) for _ in range(3)]
    assert failed_attempts(job, failed_pods) == 3
    assert failed_attempts(job, []) == 1
    text = failure_message(job, ended, failed=3, code=1, last_line="Traceback: boom")
    assert text == (
        "processing failed 3 times; no retries left (backoffLimit 2); "
        "the last attempt exited with code 1; last log line: Traceback: boom"
    )
    deadline = job_with(("FailureTarget", "DeadlineExceeded"))
    ended = outcome(deadline)
    assert ended is not None
    assert failure_message(deadline, ended, failed=0, code=None, last_line=None) == (
        "processing did not finish within 900s (activeDeadlineSeconds exceeded)"
    )


def test_the_jobs_pod_passes_restricted_pod_security(cluster: Cluster) -> None:
    """Pod Security admission judges pods, not Jobs: dry-run the Job's pod itself."""
    settings = KubernetesSettings(namespace=NAMESPACE, config_map=CONFIG_MAP, secret=SECRET)
    job = build_job(dataset(), settings)
    assert job.spec is not None
    template = job.spec.template
    pod = client.V1Pod(metadata=client.V1ObjectMeta(name="restricted-probe"), spec=template.spec)
    cluster.core.create_namespaced_pod(NAMESPACE, pod, dry_run="All")

    # The namespace really enforces it: one relaxed field and the pod is refused.
    assert pod.spec is not None and pod.spec.containers[0].security_context is not None
    pod.spec.containers[0].security_context.allow_privilege_escalation = True
    with pytest.raises(ApiException) as refused:
        cluster.core.create_namespaced_pod(NAMESPACE, pod, dry_run="All")
    assert refused.value.status == 403
    assert "restricted" in (refused.value.body or "")
    # And the Job itself is valid for the apiserver.
    cluster.batch.create_namespaced_job(NAMESPACE, job, dry_run="All")


def test_a_container_that_never_started_says_why() -> None:
    job = job_with(("FailureTarget", "DeadlineExceeded"))
    ended = outcome(job)
    assert ended is not None
    waiting = client.V1ContainerStateWaiting(
        reason="ImagePullBackOff", message='Back-off pulling image "proc:1"'
    )
    pod = client.V1Pod(
        status=client.V1PodStatus(
            phase="Pending",
            container_statuses=[
                client.V1ContainerStatus(
                    name="processor",
                    image="proc:1",
                    image_id="",
                    ready=False,
                    restart_count=0,
                    state=client.V1ContainerState(waiting=waiting),
                )
            ],
        )
    )
    reason = waiting_reason([pod])
    assert reason == 'ImagePullBackOff: Back-off pulling image "proc:1"'
    result = decide(job, ended, None, failed=0, code=None, last_line=None, waiting=reason)
    assert result == {
        "status": "failed",
        "error": "processing did not finish within 900s (activeDeadlineSeconds exceeded); "
        'the container never started: ImagePullBackOff: Back-off pulling image "proc:1"',
    }


def test_a_packed_upload_gets_the_ceiling_and_an_unpack_cap() -> None:
    """gzip, zip and workbooks spill what they unpack to: the limit is the ceiling, the
    request assumes 5x, and the processor is told to stop before /tmp would be full."""
    ds = dataclasses.replace(dataset(), size_bytes=100 * 2**20)
    settings = SETTINGS.model_copy(update={"tmp_size_limit": "12Gi"})
    assert ephemeral_storage(ds.size_bytes, settings, packed=True) == ("856Mi", "12288Mi")
    container = build_job(ds, settings, packed=True).spec.template.spec.containers[0]  # type: ignore[union-attr]
    env = {e.name: e.value for e in container.env}
    cap = int(env["MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES"])
    assert cap == unpack_cap(settings)
    # What the cap lets through, spilled at 1.2x plus the base, fits the limit.
    assert cap * 1.2 + 256 * 2**20 <= 12 * 2**30
    assert container.resources.limits["ephemeral-storage"] == "12288Mi"
    plain = build_job(ds, settings).spec.template.spec.containers[0]  # type: ignore[union-attr]
    assert "MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES" not in {e.name for e in plain.env}


def test_a_small_upload_asks_for_less_and_a_packed_one_never_counts_as_small() -> None:
    settings = SETTINGS.model_copy(
        update={
            "small_upload_bytes": 4 * 2**20,
            "small_cpu_request": "50m",
            "small_memory_request": "200Mi",
            "small_memory_limit": "512Mi",
        }
    )

    def resources(size: int, packed: bool = False) -> dict[str, dict[str, str]]:
        ds = dataclasses.replace(dataset(), size_bytes=size)
        container = build_job(ds, settings, packed=packed).spec.template.spec.containers[0]  # type: ignore[union-attr]
        wire: dict[str, dict[str, str]] = client.ApiClient().sanitize_for_serialization(
            container.resources
        )
        return wire

    small = resources(4 * 2**20)
    assert small["requests"]["cpu"] == "50m" and small["requests"]["memory"] == "200Mi"
    assert small["limits"]["memory"] == "512Mi" and small["limits"]["cpu"] == "1"
    for large in (resources(4 * 2**20 + 1), resources(1000, packed=True)):
        assert large["requests"]["cpu"] == "100m" and large["requests"]["memory"] == "128Mi"
        assert large["limits"]["memory"] == "1Gi"
    assert is_small(4 * 2**20, False, settings) and not is_small(10, True, settings)
