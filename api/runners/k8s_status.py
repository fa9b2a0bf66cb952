"""What a processor Job's conditions and its result manifest mean for the dataset.

Pure functions: no API calls, no catalog, so every branch is easy to reason about.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubernetes.client import V1Job, V1JobCondition, V1Pod

from .k8s_job import CONTAINER

# Since 1.31 the job controller adds these interim conditions as soon as the outcome
# is known, before the pods are gone; Complete and Failed follow once they are.
SUCCESS_CONDITIONS = ("SuccessCriteriaMet", "Complete")
FAILURE_CONDITIONS = ("FailureTarget", "Failed")


@dataclass(frozen=True)
class JobOutcome:
    succeeded: bool
    reason: str
    message: str


def _condition(job: V1Job, kind: str) -> V1JobCondition | None:
    conditions = job.status.conditions if job.status else None
    for condition in conditions or []:
        if condition.type == kind and condition.status == "True":
            return condition
    return None


def outcome(job: V1Job) -> JobOutcome | None:
    """How the Job ended, or None while it may still run."""
    for kind, succeeded in [(k, True) for k in SUCCESS_CONDITIONS] + [
        (k, False) for k in FAILURE_CONDITIONS
    ]:
        condition = _condition(job, kind)
        if condition is not None:
            return JobOutcome(
                succeeded=succeeded,
                reason=condition.reason or kind,
                message=condition.message or "",
            )
    return None


def is_finished(job: V1Job) -> bool:
    """The terminal conditions: pods are gone and the TTL clock runs."""
    return _condition(job, "Complete") is not None or _condition(job, "Failed") is not None


def exit_code(pod: V1Pod) -> int | None:
    statuses = pod.status.container_statuses if pod.status else None
    for status in statuses or []:
        terminated = status.state.terminated if status.state else None
        if status.name == CONTAINER and terminated is not None:
            return terminated.exit_code
    return None


def last_exit_code(pods: Sequence[V1Pod]) -> int | None:
    """The exit code of the newest pod that has one (pods oldest first)."""
    for pod in reversed(pods):
        code = exit_code(pod)
        if code is not None:
            return code
    return None


def waiting_reason(pods: Sequence[V1Pod]) -> str | None:
    """Why the newest pod never ran its container (ImagePullBackOff, a missing ConfigMap, ...)."""
    for pod in reversed(pods):
        statuses = pod.status.container_statuses if pod.status else None
        for status in statuses or []:
            waiting = status.state.waiting if status.state else None
            if status.name == CONTAINER and waiting is not None and waiting.reason:
                return f"{waiting.reason}: {waiting.message}" if waiting.message else waiting.reason
    return None


def failed_attempts(job: V1Job, pods: Sequence[V1Pod]) -> int:
    """The Job's count lags behind its FailureTarget condition; the pods do not."""
    counted = job.status.failed if job.status and job.status.failed else 0
    seen = sum(1 for pod in pods if pod.status and pod.status.phase == "Failed")
    return max(counted, seen)


def failure_message(
    job: V1Job,
    ended: JobOutcome,
    *,
    failed: int,
    code: int | None,
    last_line: str | None,
    waiting: str | None = None,
) -> str:
    """Why a Job failed without writing a result manifest, in words a user can act on."""
    spec = job.spec
    if ended.reason == "BackoffLimitExceeded":
        limit = spec.backoff_limit if spec and spec.backoff_limit is not None else 0
        times = "time" if failed == 1 else "times"
        text = f"processing failed {failed} {times}; no retries left (backoffLimit {limit})"
    elif ended.reason == "DeadlineExceeded":
        seconds = spec.active_deadline_seconds if spec else None
        text = f"processing did not finish within {seconds}s (activeDeadlineSeconds exceeded)"
    elif ended.reason == "PodFailurePolicy":
        text = f"processing failed and is not retried: {ended.message}"
    else:
        text = f"the processing Job failed: {ended.reason}: {ended.message}".rstrip(": ")
    if code is not None:
        text += f"; the last attempt exited with code {code}"
    elif waiting:
        text += f"; the container never started: {waiting}"
    if last_line:
        text += f"; last log line: {last_line}"
    return text


def decide(
    job: V1Job,
    ended: JobOutcome,
    manifest: dict[str, Any] | None,
    *,
    failed: int,
    code: int | None,
    last_line: str | None,
    waiting: str | None = None,
) -> dict[str, Any]:
    """The result to record: the processor's own manifest when there is one.

    Ready only ever comes from the manifest, which the processor writes after every
    other output; a Job can succeed without it (a broken image) and fail after it.
    """
    if manifest is not None and manifest.get("status") in ("ready", "failed"):
        return manifest
    if ended.succeeded:
        error = "the processor exited successfully but wrote no result manifest"
        if last_line:
            error += f"; last log line: {last_line}"
        return {"status": "failed", "error": error}
    return {
        "status": "failed",
        "error": failure_message(
            job, ended, failed=failed, code=code, last_line=last_line, waiting=waiting
        ),
    }
