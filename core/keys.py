"""The one place that knows where a dataset's objects live."""

from __future__ import annotations

import re

_ID = re.compile(r"^[0-9a-f]{32}$")


def is_dataset_id(value: str) -> bool:
    return bool(_ID.match(value))


def raw_key(dataset_id: str) -> str:
    return f"{dataset_id}/source.csv"


def upload_manifest_key(dataset_id: str) -> str:
    """Sidecar beside the raw object: its sha256 and size are known only once it is stored."""
    return f"{dataset_id}/upload.json"


def raw_prefix(dataset_id: str) -> str:
    return f"{dataset_id}/"


def processed_prefix(dataset_id: str) -> str:
    return f"{dataset_id}/"


def data_key(dataset_id: str) -> str:
    return f"{dataset_id}/data.parquet"


def report_key(dataset_id: str) -> str:
    return f"{dataset_id}/report.json"


def rejects_key(dataset_id: str) -> str:
    return f"{dataset_id}/rejects.csv"


def result_key(dataset_id: str) -> str:
    """Written last: its presence means every other output is complete."""
    return f"{dataset_id}/_result.json"


def logs_key(dataset_id: str) -> str:
    """The last lines of the processor's output, saved by the runner once it finished."""
    return f"{dataset_id}/logs.txt"
