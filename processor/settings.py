"""The one settings model. Zero MINI_* variables means the embedded default."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3
MIB = 1024**2


class StorageBackend(StrEnum):
    local = "local"
    s3 = "s3"


class RunnerBackend(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


class StorageSettings(BaseModel):
    backend: StorageBackend = StorageBackend.local
    # Local backend: root folder; empty means <data_dir>/objects.
    root: Path | None = None
    endpoint: str = "127.0.0.1:9000"
    access_key: str = ""
    secret_key: SecretStr = SecretStr("")
    secure: bool = False
    region: str | None = None
    raw_bucket: str = "raw"
    processed_bucket: str = "processed"
    # Multipart part size for streamed uploads; S3's minimum is 5 MiB.
    part_size: int = 8 * MIB


class RunnerSettings(BaseModel):
    backend: RunnerBackend = RunnerBackend.local
    max_parallel: int = Field(default_factory=lambda: os.cpu_count() or 1, ge=1)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINI_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path(".mini-data")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    max_upload_bytes: int = Field(default=5 * GIB, ge=1)
    storage: StorageSettings = StorageSettings()
    runner: RunnerSettings = RunnerSettings()

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    def resolved_storage_root(self) -> Path:
        return (self.storage.root or self.data_dir / "objects").resolve()


def to_env(settings: Settings) -> dict[str, str]:
    """MINI_* variables that rebuild `settings` in a child process (runner subprocesses)."""
    env: dict[str, str] = {}

    def walk(prefix: str, model: BaseModel) -> None:
        for name in type(model).model_fields:
            value = getattr(model, name)
            key = f"{prefix}{name.upper()}"
            if isinstance(value, BaseModel):
                walk(f"{key}__", value)
            elif value is None:
                continue
            elif isinstance(value, SecretStr):
                env[key] = value.get_secret_value()
            elif isinstance(value, bool):
                env[key] = "true" if value else "false"
            elif isinstance(value, Path):
                env[key] = str(value.resolve())
            else:
                env[key] = str(value)

    walk("MINI_", settings)
    return env
