"""The upload manifest: `raw/<id>/upload.json`, written by the API beside the uploaded
file once its size and hash are known, read back by the reconciler to record an upload
the catalog lost. One typed model for both sides.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from . import keys
from .catalog import SchemaPolicy
from .storage import ObjectStore


class ManifestError(ValueError):
    pass


class UploadManifest(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    dataset_id: str
    filename: str
    size_bytes: int = Field(ge=0)
    sha256: str
    uploaded_at: datetime
    # Every upload belongs to a named dataset; an unnamed upload is named by its id
    # (manifests written before names existed have none: they get their id too).
    name: str = ""
    content_type: str | None = None
    # Detection and cleaning overrides, schema policy and baseline: what the processor gets.
    options: dict[str, Any] = Field(default_factory=dict)
    on_schema_change: SchemaPolicy | None = None
    reprocess_of: str | None = None

    @model_validator(mode="after")
    def _named(self) -> UploadManifest:
        if not self.name:
            object.__setattr__(self, "name", self.dataset_id)
        return self

    def to_bytes(self) -> bytes:
        return self.model_dump_json().encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> UploadManifest:
        try:
            manifest = cls.model_validate(json.loads(data))
        except (ValueError, ValidationError) as exc:
            raise ManifestError(f"invalid upload.json: {exc}") from exc
        if manifest.uploaded_at.tzinfo is None:
            raise ManifestError("invalid upload.json: uploaded_at has no time zone")
        return manifest


def write_manifest(store: ObjectStore, bucket: str, manifest: UploadManifest) -> None:
    store.put_bytes(bucket, keys.upload_manifest_key(manifest.dataset_id), manifest.to_bytes())


def read_manifest(store: ObjectStore, bucket: str, dataset_id: str) -> UploadManifest:
    """Raises ObjectNotFound when there is none, ManifestError when it is unreadable."""
    with store.open(bucket, keys.upload_manifest_key(dataset_id)) as fh:
        return UploadManifest.from_bytes(fh.read())
