"""The typed upload manifest: what the API writes is what the reconciler reads back,
including manifests written by older versions of the API."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.catalog import SchemaPolicy
from core.manifest import ManifestError, UploadManifest


def test_round_trip() -> None:
    written = UploadManifest(
        dataset_id="a" * 32,
        filename="Größe.csv",
        size_bytes=10,
        sha256="0" * 64,
        uploaded_at=datetime(2026, 12, 5, tzinfo=UTC),
        name="euro",
        options={"delimiter": ";", "on_schema_change": "pin"},
        on_schema_change=SchemaPolicy.reject,
    )
    assert UploadManifest.from_bytes(written.to_bytes()) == written


def test_older_manifests_are_still_read() -> None:
    # As the API wrote them before dataset names (no name, no policy) ...
    old = {
        "dataset_id": "b" * 32,
        "filename": "x.csv",
        "size_bytes": 3,
        "sha256": "1" * 64,
        "content_type": "text/csv",
        "uploaded_at": "2026-11-20T10:00:00+00:00",
        "options": {},
        "some_future_key": True,
    }
    manifest = UploadManifest.from_bytes(json.dumps(old).encode())
    assert manifest.name == "b" * 32 and manifest.on_schema_change is None
    # ... and with the name they had since versions.
    named = UploadManifest.from_bytes(json.dumps({**old, "name": "sales"}).encode())
    assert named.name == "sales"


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"[]",
        json.dumps({"dataset_id": "c" * 32}).encode(),
        json.dumps(
            {
                "dataset_id": "c" * 32,
                "filename": "x",
                "size_bytes": 1,
                "sha256": "0",
                "uploaded_at": "2026-11-20T10:00:00",  # no time zone
            }
        ).encode(),
        json.dumps(
            {
                "dataset_id": "c" * 32,
                "filename": "x",
                "size_bytes": -1,
                "sha256": "0",
                "uploaded_at": "2026-11-20T10:00:00+00:00",
            }
        ).encode(),
    ],
)
def test_unreadable_manifests_are_one_clear_error(data: bytes) -> None:
    with pytest.raises(ManifestError, match=r"invalid upload\.json"):
        UploadManifest.from_bytes(data)
