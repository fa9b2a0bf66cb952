"""Incomplete multipart uploads on `raw` expire on the same clock everywhere.

MinIO drops AbortIncompleteMultipartUpload from bucket lifecycles (minio/minio#19115),
so the deployment's rule is MinIO's own stale-upload sweep, and it must agree with the
age the API and the reconciler sweep with (MINI_STORAGE__INCOMPLETE_MAX_AGE_SECONDS).
"""

from __future__ import annotations

import re

from core.settings import StorageSettings

from .manifests import Manifest, containers, find, pod_template

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def _seconds(duration: str) -> int:
    """A Go duration as MinIO reads it ("24h", "1h30m") in seconds."""
    parts = re.findall(r"(\d+)([smhd])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _minio_env(rendered: list[Manifest]) -> dict[str, str]:
    template = pod_template(find(rendered, "StatefulSet", "minio"))
    (minio,) = [c for c in containers(template) if c["name"] == "minio"]
    return {e["name"]: e["value"] for e in minio["env"] if "value" in e}


def test_minio_aborts_stale_uploads_at_the_apps_age(rendered: list[Manifest]) -> None:
    env = _minio_env(rendered)
    config = find(rendered, "ConfigMap", "mini-config")["data"]
    age = int(config["MINI_STORAGE__INCOMPLETE_MAX_AGE_SECONDS"])
    assert age == StorageSettings().incomplete_max_age_seconds
    assert _seconds(env["MINIO_API_STALE_UPLOADS_EXPIRY"]) == age
    # Swept often enough that an abandoned upload lives at most a few hours too long.
    interval = _seconds(env["MINIO_API_STALE_UPLOADS_CLEANUP_INTERVAL"])
    assert 0 < interval <= age // 4


def test_durations_parse_like_go() -> None:
    assert _seconds("24h") == 86400
    assert _seconds("1h30m") == 5400
