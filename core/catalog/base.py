"""The catalog port: what the API, the runners, the processor and the reconciler need
from the record of datasets and their versions. Adapters: `sql.SqlCatalog` (SQLAlchemy 2
over SQLite by default, PostgreSQL by URL).

Status moves only forward (queued -> processing -> ready | failed); every transition is
one guarded change, so two writers can never both win.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol


class SchemaPolicy(StrEnum):
    """What a new version may do to the schema its dataset serves (README: Schema drift)."""

    pin = "pin"
    reject = "reject"
    allow = "allow"


DEFAULT_POLICY = SchemaPolicy.pin


class Status(StrEnum):
    queued = "queued"
    processing = "processing"
    ready = "ready"
    failed = "failed"


FINAL = frozenset({Status.ready, Status.failed})


class CatalogError(Exception):
    pass


class CatalogUnavailable(CatalogError):
    pass


# Bounds of a dataset's metadata (README: Metadata and search); the API refuses more (422).
MAX_TITLE_CHARS = 200
MAX_DESCRIPTION_CHARS = 10_000
MAX_TAGS = 30
MAX_TAG_CHARS = 50
MAX_LICENCE_CHARS = 100
MAX_SOURCE_CHARS = 2048
MAX_COLUMN_DESCRIPTION_CHARS = 2000
# As many as a file may have columns (MINI_MAX_COLUMNS' ceiling).
MAX_COLUMN_DESCRIPTIONS = 10_000
METADATA_FIELDS = ("title", "description", "tags", "licence", "source", "columns")


@dataclass(frozen=True)
class Metadata:
    """What a person says about a dataset: it belongs to the name, so every version
    shares it. `columns` is the data dictionary, a description per column name."""

    title: str | None = None
    description: str | None = None
    tags: tuple[str, ...] = ()
    licence: str | None = None
    source: str | None = None
    columns: dict[str, str] = field(default_factory=dict)
    updated_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "description": self.description,
            "tags": list(self.tags),
            "licence": self.licence,
            "source": self.source,
            "columns": dict(self.columns),
            "updated_at": self.updated_at.isoformat() if self.updated_at else None,
        }


@dataclass(frozen=True)
class Family:
    """One dataset as the list shows it: its newest version and its newest ready one."""

    name: str
    on_schema_change: SchemaPolicy
    latest: Dataset
    latest_ready: Dataset | None
    versions: int
    metadata: Metadata = field(default_factory=Metadata)


@dataclass(frozen=True)
class Dataset:
    id: str
    filename: str
    raw_key: str
    sha256: str
    size_bytes: int
    status: Status
    error: str | None
    options: dict[str, Any]
    rows_in: int | None
    rows_out: int | None
    rows_rejected: int | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    name: str | None = None
    version: int | None = None
    schema_diff: dict[str, Any] | None = None
    claimed_by: str | None = None
    heartbeat_at: datetime | None = None
    # Its column names, recorded when it became ready (None: before 0007, or not ready).
    columns: tuple[str, ...] | None = None

    @property
    def is_final(self) -> bool:
        return self.status in FINAL


# The scope of the webhook URLs from settings (MINI_WEBHOOKS__URLS): every dataset's.
# Dataset names cannot contain "*", so it never collides with one.
ALL_DATASETS = "*"


class DeliveryState(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


@dataclass(frozen=True)
class WebhookTarget:
    """A URL told about the versions of one dataset (or of all, ALL_DATASETS) that
    finish from `since` on: configuring a URL never replays history."""

    scope: str
    url: str
    since: datetime


@dataclass(frozen=True)
class Delivery:
    """One webhook call: a final version told to one URL (at most one per pair)."""

    id: int
    dataset_id: str
    name: str
    url: str
    event: str
    state: DeliveryState
    attempts: int
    next_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


def new_dataset_id() -> str:
    return uuid.uuid4().hex


def now() -> datetime:
    return datetime.now(UTC)


class Catalog(Protocol):
    """The catalog port (README: How one upload flows)."""

    def create_schema(self) -> None: ...
    def ping(self) -> None: ...
    def close(self) -> None: ...
    def add(
        self,
        *,
        dataset_id: str,
        filename: str,
        raw_key: str,
        sha256: str,
        size_bytes: int,
        options: dict[str, Any] | None = None,
        name: str | None = None,
        policy: SchemaPolicy | None = None,
    ) -> Dataset: ...
    def policy(self, name: str) -> SchemaPolicy: ...
    def families(
        self,
        *,
        prefix: str | None = None,
        status: Status | None = None,
        offset: int = 0,
        limit: int = 100,
        q: str | None = None,
    ) -> tuple[list[Family], int]: ...
    def metadata(self, name: str) -> Metadata | None: ...
    def set_metadata(self, name: str, changes: dict[str, Any]) -> Metadata | None: ...
    def names(self, prefix: str = "", limit: int = 20) -> list[str]: ...
    def versions(self, name: str) -> list[Dataset]: ...
    def get(self, dataset_id: str) -> Dataset | None: ...
    def with_status(
        self, statuses: Sequence[Status], *, limit: int | None = None
    ) -> list[Dataset]: ...
    def status_counts(self) -> dict[Status, int]: ...
    def mark_processing(self, dataset_id: str, owner: str | None = None) -> bool: ...
    def heartbeat(self, dataset_ids: Sequence[str], owner: str) -> int: ...
    def next_in_line(self, name: str) -> list[Dataset]: ...
    def revoke_session(self, sid: str, expires_at: datetime) -> None: ...
    def session_revoked(self, sid: str) -> bool: ...
    def requeue(self, dataset_id: str, owner: str | None = None) -> bool: ...
    def mark_ready(
        self,
        dataset_id: str,
        *,
        rows_in: int,
        rows_out: int,
        rows_rejected: int,
        schema_diff: dict[str, Any] | None = None,
        columns: Sequence[str] | None = None,
    ) -> bool: ...
    def mark_failed(
        self, dataset_id: str, error: str, *, schema_diff: dict[str, Any] | None = None
    ) -> bool: ...
    def delete(self, dataset_id: str) -> bool: ...
    # Webhooks (README: Webhooks): targets, and the outbox of deliveries.
    def set_webhooks(self, scope: str, urls: Sequence[str]) -> list[WebhookTarget]: ...
    def webhooks(self, scope: str) -> list[WebhookTarget]: ...
    def enqueue_deliveries(self, dataset_id: str) -> int: ...
    def enqueue_missed(self, limit: int) -> int: ...
    def claim_deliveries(self, limit: int, lease_seconds: float) -> list[Delivery]: ...
    def record_attempt(
        self,
        delivery_id: int,
        *,
        delivered: bool,
        status: int | None,
        error: str | None,
        retry_at: datetime | None,
    ) -> None: ...
    def deliveries(
        self,
        *,
        name: str | None = None,
        dataset_id: str | None = None,
        offset: int = 0,
        limit: int = 100,
    ) -> tuple[list[Delivery], int]: ...
