"""The processor Job for one dataset, as a pure function of the dataset and the settings."""

from __future__ import annotations

import json
import math
import re

from kubernetes.client import (
    V1Capabilities,
    V1ConfigMapEnvSource,
    V1ConfigMapVolumeSource,
    V1Container,
    V1EmptyDirVolumeSource,
    V1EnvFromSource,
    V1EnvVar,
    V1Job,
    V1JobSpec,
    V1ObjectMeta,
    V1PodFailurePolicy,
    V1PodFailurePolicyOnExitCodesRequirement,
    V1PodFailurePolicyOnPodConditionsPattern,
    V1PodFailurePolicyRule,
    V1PodSecurityContext,
    V1PodSpec,
    V1PodTemplateSpec,
    V1ResourceRequirements,
    V1SeccompProfile,
    V1SecretEnvSource,
    V1SecurityContext,
    V1Toleration,
    V1Volume,
    V1VolumeMount,
)

from core import keys
from core.catalog import Dataset
from core.outputs import EXIT_BAD_INPUT
from core.settings import KubernetesSettings

NAME_PREFIX = "mini-proc-"
MAX_NAME_LENGTH = 63
CONTAINER = "processor"
APP_LABEL = "app.kubernetes.io/name"
COMPONENT_LABEL = "app.kubernetes.io/component"
DATASET_LABEL = "mini-pipeline/dataset-id"
APP = "mini-pipeline"
COMPONENT = "processor"
# Every Job this runner owns, and nothing else, matches this.
SELECTOR = f"{APP_LABEL}={APP},{COMPONENT_LABEL}={COMPONENT}"


# Where a ConfigMap of pandas transform modules is mounted (transforms_config_map);
# the Job puts it on MINI_PROCESSOR__TRANSFORMS_PATH.
TRANSFORMS_MOUNT = "/etc/mini/transforms"
TRANSFORMS_VOLUME = "transforms"

MIB = 2**20
# The processor stages its outputs in /tmp before uploading them: about 1.2x the
# input at most. On top: Python's own files, logs and small outputs.
SPILL_FACTOR = 1.2
EPHEMERAL_BASE = 256 * MIB
# The limit leaves room above the request before the kubelet evicts the pod.
LIMIT_FACTOR = 1.5
LIMIT_HEADROOM = 1024 * MIB
# gzip or zip of CSV and workbooks unpack to several times their size (5x is typical
# of text): what a packed upload's request assumes.
PACKED_RATIO = 5
_UNITS = {
    "": 1, "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40,
}  # fmt: skip


def quantity_bytes(quantity: str) -> int:
    """A Kubernetes storage quantity ("12Gi", "500M", "1024") in bytes."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kMGT]i?|)\s*", quantity)
    if not m:
        raise ValueError(f"not a storage quantity: {quantity!r}")
    return math.ceil(float(m.group(1)) * _UNITS[m.group(2)])


def ephemeral_storage(
    size_bytes: int, k: KubernetesSettings, packed: bool = False
) -> tuple[str, str]:
    """(request, limit) of ephemeral storage for a Job processing `size_bytes` of input.

    Sized from the upload so the scheduler places the pod on a node with room for
    its spill (no DiskPressure evictions), and capped by `tmp_size_limit`; the
    /tmp emptyDir gets the limit as its sizeLimit. A packed upload (gzip, zip, a
    workbook) spills what it unpacks to, which its size does not tell: its request
    assumes PACKED_RATIO and its limit is the ceiling, and `unpack_cap` makes the
    processor stop with a clear message before the spill would pass it.
    """
    ceiling = quantity_bytes(k.tmp_size_limit)
    size = max(0, size_bytes) * (PACKED_RATIO if packed else 1)
    limit = ceiling if packed else min(ceiling, math.ceil(size * LIMIT_FACTOR) + LIMIT_HEADROOM)
    request = min(limit, math.ceil(size * SPILL_FACTOR) + EPHEMERAL_BASE)
    return f"{math.ceil(request / MIB)}Mi", f"{math.ceil(limit / MIB)}Mi"


def is_small(size_bytes: int, packed: bool, k: KubernetesSettings) -> bool:
    """A small upload's Job asks for less and counts only against max_active_jobs."""
    return not packed and size_bytes <= k.small_upload_bytes


def unpack_cap(k: KubernetesSettings) -> int:
    """The most a packed upload may unpack to in a Job: its spill then fits the limit."""
    room = quantity_bytes(k.tmp_size_limit) - EPHEMERAL_BASE
    return max(1, math.floor(room / SPILL_FACTOR))


def job_name(dataset_id: str) -> str:
    """Deterministic, so a second launch of one dataset collides instead of running twice."""
    if not keys.is_dataset_id(dataset_id):
        raise ValueError(f"not a dataset id: {dataset_id!r}")
    name = f"{NAME_PREFIX}{dataset_id}"
    assert len(name) <= MAX_NAME_LENGTH
    return name


def labels(dataset_id: str) -> dict[str, str]:
    return {APP_LABEL: APP, COMPONENT_LABEL: COMPONENT, DATASET_LABEL: dataset_id}


REQUEST_ID_KEY = "mini-pipeline/request-id"
_LABEL_VALUE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$")


def request_tags(dataset: Dataset) -> tuple[dict[str, str], dict[str, str]]:
    """(labels, annotations) naming the upload's request id, so `kubectl get jobs -l
    mini-pipeline/request-id=...` finds the Job of one request; the annotation always,
    the label when the id is a valid label value."""
    request_id = dataset.options.get("request_id")
    if not isinstance(request_id, str) or not request_id:
        return {}, {}
    label = {REQUEST_ID_KEY: request_id} if _LABEL_VALUE.match(request_id) else {}
    return label, {REQUEST_ID_KEY: request_id}


def dataset_of(job: V1Job) -> str | None:
    """The dataset a Job was launched for, when it is one of ours."""
    meta = job.metadata
    found = dict(meta.labels or {}) if meta else {}
    if found.get(APP_LABEL) != APP or found.get(COMPONENT_LABEL) != COMPONENT:
        return None
    dataset_id = found.get(DATASET_LABEL)
    return dataset_id if dataset_id and keys.is_dataset_id(dataset_id) else None


def belongs_to(job: V1Job, dataset_id: str) -> bool:
    """A Job with the right name may still be someone else's: the labels must agree."""
    meta = job.metadata
    return bool(meta and meta.name == job_name(dataset_id)) and dataset_of(job) == dataset_id


def command(dataset: Dataset) -> list[str]:
    cmd = ["python", "-m", "processor", "run", "--dataset-id", dataset.id]
    if dataset.options:
        # The Job cannot read the catalog: upload options travel with it.
        cmd += ["--options", json.dumps(dataset.options, sort_keys=True)]
    return cmd


def _pod_failure_policy() -> V1PodFailurePolicy:
    return V1PodFailurePolicy(
        rules=[
            # Bad input fails the same way every time: no retry.
            V1PodFailurePolicyRule(
                action="FailJob",
                on_exit_codes=V1PodFailurePolicyOnExitCodesRequirement(
                    container_name=CONTAINER, operator="In", values=[EXIT_BAD_INPUT]
                ),
            ),
            # Evictions, preemption, node drains: not the processor's fault.
            V1PodFailurePolicyRule(
                action="Ignore",
                on_pod_conditions=[
                    V1PodFailurePolicyOnPodConditionsPattern(type="DisruptionTarget", status="True")
                ],
            ),
        ]
    )


def storage(quantity: str) -> dict[str, str]:
    return {"ephemeral-storage": quantity}


def _resources(dataset: Dataset, k: KubernetesSettings, packed: bool) -> V1ResourceRequirements:
    request, limit = ephemeral_storage(dataset.size_bytes, k, packed)
    if is_small(dataset.size_bytes, packed, k):
        cpu, memory, memory_limit = (
            k.small_cpu_request,
            k.small_memory_request,
            k.small_memory_limit,
        )
    else:
        cpu, memory, memory_limit = k.cpu_request, k.memory_request, k.memory_limit
    return V1ResourceRequirements(
        requests={"cpu": cpu, "memory": memory, **storage(request)},
        limits={"cpu": k.cpu_limit, "memory": memory_limit, **storage(limit)},
    )


def _container(dataset: Dataset, k: KubernetesSettings, packed: bool) -> V1Container:
    # A packed upload unpacking past what /tmp holds fails with the processor's own
    # message (MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES) instead of an eviction.
    cap = [V1EnvVar(name="MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES", value=str(unpack_cap(k)))]
    return V1Container(
        name=CONTAINER,
        image=k.image,
        image_pull_policy=k.image_pull_policy,
        command=command(dataset),
        env_from=[
            V1EnvFromSource(config_map_ref=V1ConfigMapEnvSource(name=k.config_map)),
            V1EnvFromSource(secret_ref=V1SecretEnvSource(name=k.secret)),
        ],
        env=[
            # The Job reaches object storage only; the API applies its result manifest.
            V1EnvVar(name="MINI_PROCESSOR__UPDATE_CATALOG", value="false"),
            V1EnvVar(name="TMPDIR", value="/tmp"),
            V1EnvVar(name="HOME", value="/tmp"),
            V1EnvVar(name="PYTHONUNBUFFERED", value="1"),
            *(cap if packed else []),
            *_transforms_env(k),
        ],
        resources=_resources(dataset, k, packed),
        security_context=V1SecurityContext(
            run_as_non_root=True,
            run_as_user=k.run_as_user,
            run_as_group=k.run_as_user,
            allow_privilege_escalation=False,
            read_only_root_filesystem=True,
            capabilities=V1Capabilities(drop=["ALL"]),
            seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
        ),
        volume_mounts=[
            V1VolumeMount(name="tmp", mount_path="/tmp"),
            *(
                [V1VolumeMount(name=TRANSFORMS_VOLUME, mount_path=TRANSFORMS_MOUNT, read_only=True)]
                if k.transforms_config_map
                else []
            ),
        ],
        termination_message_policy="FallbackToLogsOnError",
    )


def _transforms_env(k: KubernetesSettings) -> list[V1EnvVar]:
    if not k.transforms_config_map:
        return []
    # The mounted modules are importable by the names MINI_PROCESSOR__TRANSFORMS gives.
    return [V1EnvVar(name="MINI_PROCESSOR__TRANSFORMS_PATH", value=f'["{TRANSFORMS_MOUNT}"]')]


def _volumes(dataset: Dataset, k: KubernetesSettings, packed: bool) -> list[V1Volume]:
    volumes = [
        V1Volume(
            name="tmp",
            empty_dir=V1EmptyDirVolumeSource(
                size_limit=ephemeral_storage(dataset.size_bytes, k, packed)[1]
            ),
        )
    ]
    if k.transforms_config_map:
        volumes.append(
            V1Volume(
                name=TRANSFORMS_VOLUME,
                config_map=V1ConfigMapVolumeSource(name=k.transforms_config_map),
            )
        )
    return volumes


def build_job(dataset: Dataset, k: KubernetesSettings, packed: bool = False) -> V1Job:
    """The Job that runs `python -m processor run` once for `dataset`; `packed`: the
    upload is gzip, zip or a workbook (core.sniff.container_format)."""
    name = job_name(dataset.id)
    traced, annotations = request_tags(dataset)
    pod_labels = {**labels(dataset.id), **traced}
    pod = V1PodSpec(
        restart_policy="Never",
        service_account_name=k.service_account,
        automount_service_account_token=False,
        enable_service_links=False,
        security_context=V1PodSecurityContext(
            run_as_non_root=True,
            run_as_user=k.run_as_user,
            run_as_group=k.run_as_user,
            fs_group=k.run_as_user,
            seccomp_profile=V1SeccompProfile(type="RuntimeDefault"),
        ),
        containers=[_container(dataset, k, packed)],
        volumes=_volumes(dataset, k, packed),
        node_selector=dict(k.node_selector) or None,
        tolerations=[V1Toleration.from_dict(t) for t in k.tolerations] or None,
    )
    return V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=V1ObjectMeta(
            name=name, namespace=k.namespace, labels=pod_labels, annotations=annotations or None
        ),
        spec=V1JobSpec(
            backoff_limit=k.backoff_limit,
            active_deadline_seconds=k.active_deadline_seconds,
            ttl_seconds_after_finished=k.ttl_seconds_after_finished,
            pod_failure_policy=_pod_failure_policy(),
            template=V1PodTemplateSpec(
                metadata=V1ObjectMeta(labels=pod_labels, annotations=annotations or None),
                spec=pod,
            ),
        ),
    )
