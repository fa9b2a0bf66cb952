from __future__ import annotations

from pathlib import Path

import pytest

from core.settings import RunnerBackend, Settings, StorageBackend, to_env


def test_zero_env_is_embedded_default(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("MINI_"):
            monkeypatch.delenv(key)
    s = Settings()
    assert s.storage.backend is StorageBackend.local
    assert s.runner.backend is RunnerBackend.local
    assert s.resolved_storage_root() == (Path(".mini-data") / "objects").resolve()
    assert s.resolved_database_url().endswith(".mini-data/catalog.sqlite3")
    assert (s.host, s.port) == ("127.0.0.1", 8000)
    assert s.max_upload_bytes == 5 * 1024**3


def test_nested_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MINI_STORAGE__BACKEND", "s3")
    monkeypatch.setenv("MINI_STORAGE__SECRET_KEY", "hush")
    monkeypatch.setenv("MINI_STORAGE__RAW_BUCKET", "incoming")
    monkeypatch.setenv("MINI_RUNNER__MAX_PARALLEL", "3")
    s = Settings()
    assert s.storage.backend is StorageBackend.s3
    assert s.storage.raw_bucket == "incoming"
    assert s.runner.max_parallel == 3
    assert "hush" not in repr(s)
    assert s.storage.secret_key.get_secret_value() == "hush"


def test_to_env_round_trips(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    original = Settings(data_dir=tmp_path, max_upload_bytes=123)
    original.storage.secret_key  # noqa: B018 - the secret must survive the trip
    for key, value in to_env(original).items():
        monkeypatch.setenv(key, value)
    assert Settings() == original.model_copy(update={"data_dir": tmp_path.resolve()})
