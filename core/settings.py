"""The one settings model. Zero MINI_* variables means the embedded default."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

GIB = 1024**3
MIB = 1024**2


class StorageBackend(StrEnum):
    local = "local"
    s3 = "s3"


class RunnerBackend(StrEnum):
    local = "local"
    kubernetes = "kubernetes"


class LogFormat(StrEnum):
    text = "text"
    json = "json"


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
    # Incomplete multipart uploads (S3) and temp parts (local) older than this are
    # removed at start and by the reconciler: longer than any upload may take.
    incomplete_max_age_seconds: int = Field(default=24 * 3600, ge=1)


class KubernetesSettings(BaseModel):
    """How the Kubernetes runner launches one processor Job per dataset."""

    namespace: str = "mini-pipeline"
    # Out of a cluster: a kubeconfig file; empty means in-cluster, else the default one.
    kubeconfig: Path | None = None
    image: str = "mini-pipeline-processor"
    image_pull_policy: str = "IfNotPresent"
    service_account: str = "mini-processor"
    # The processor gets the same settings as the API, through envFrom.
    config_map: str = "mini-config"
    # Only the S3 keys: the processor reaches nothing else (k8s/base/config.yaml).
    secret: str = "mini-processor-secrets"
    backoff_limit: int = Field(default=2, ge=0)
    active_deadline_seconds: int = Field(default=3600, ge=1)
    # Long enough for the API to see the Job finish and save its logs first.
    ttl_seconds_after_finished: int = Field(default=3600, ge=0)
    cpu_request: str = "250m"
    memory_request: str = "512Mi"
    cpu_limit: str = "2"
    memory_limit: str = "2Gi"
    # A small upload (this size at most, not packed) asks for less: a processor run
    # peaks at ≈ 110 MiB on a tiny file, 146 MiB at 1 MiB and 193 MiB at 4 MiB, against
    # ≈ 350 MiB on gigabytes. max_active_large_jobs leaves such Jobs out of its count.
    small_upload_bytes: int = Field(default=4 * MIB, ge=0)
    small_cpu_request: str = "100m"
    small_memory_request: str = "256Mi"
    small_memory_limit: str = "1Gi"
    # The emptyDir at /tmp holds the processor's output until it is uploaded.
    tmp_size_limit: str = "12Gi"
    run_as_user: int = Field(default=10001, ge=1)
    # JSON in the environment, e.g. '{"disktype": "ssd"}' and '[{"key": ..., ...}]'.
    node_selector: dict[str, str] = Field(default_factory=dict)
    tolerations: list[dict[str, Any]] = Field(default_factory=list)
    # Safety net behind the watch: a full re-list and catalog reconcile this often.
    poll_seconds: float = Field(default=30.0, gt=0)
    # At most this many datasets processing (Jobs running) at once; beyond it
    # uploads wait `queued` and start as Jobs finish. 0: no cap.
    max_active_jobs: int = Field(default=0, ge=0)
    # Of those, at most this many for uploads that are not small (bigger than
    # small_upload_bytes, or packed): the namespace's quota is sized for that many of
    # the biggest upload beside the small ones. 0: max_active_jobs alone counts.
    max_active_large_jobs: int = Field(default=0, ge=0)
    # A ConfigMap of pandas transform modules (README: Your own pandas step): mounted
    # read-only in every Job at TRANSFORMS_MOUNT, which goes on the transforms' path.
    transforms_config_map: str = ""


MIN_PARALLEL_RUNS = 4
# A transform's name as a client gives it, and the operator's "module:function".
TRANSFORM_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
TRANSFORM_TARGET = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*")
# ?transform=none removes a dataset's transform.
NO_TRANSFORM = "none"


class RunnerSettings(BaseModel):
    backend: RunnerBackend = RunnerBackend.local
    # Processor runs at once on the local runner: the CPU count, but at least
    # MIN_PARALLEL_RUNS, because a small file's run mostly waits (fsyncs, the catalog),
    # so on 2 cores 4 at once finish a burst of tiny files ~20% sooner (bench_small_files).
    max_parallel: int = Field(
        default_factory=lambda: max(os.cpu_count() or 1, MIN_PARALLEL_RUNS), ge=1
    )
    # Local runner: fork each run from a warm processor (processor/zygote.py) instead of
    # starting Python; false starts `python -m processor run` every time.
    fork_server: bool = True
    kubernetes: KubernetesSettings = KubernetesSettings()


class ProcessorSettings(BaseModel):
    # False in Kubernetes Jobs: they reach only object storage, so the API records
    # the result manifest in the catalog instead.
    update_catalog: bool = True
    # gzip and zip uploads: decompressing more than this fails the file (zip bombs).
    max_decompressed_bytes: int = Field(default=20 * GIB, ge=1)
    # Pandas transforms an upload may choose by name (?transform=NAME; README: Your own
    # pandas step): name -> "module:function", as JSON. Only the operator registers them;
    # a client can only pick a name. The API checks names against this and never imports
    # the modules (its image has no pandas); the processor imports one when a run uses it.
    transforms: dict[str, str] = Field(default_factory=dict)
    # Folders put in front of the import path before a transform's module is imported:
    # a ConfigMap of modules mounted in the processor (e.g. /etc/mini/transforms).
    transforms_path: list[Path] = Field(default_factory=list)

    @field_validator("transforms")
    @classmethod
    def _registered(cls, value: dict[str, str]) -> dict[str, str]:
        for name, target in value.items():
            if not TRANSFORM_NAME.fullmatch(name) or name == NO_TRANSFORM:
                raise ValueError(
                    f"transform name {name!r}: use 1-64 lowercase letters, digits, '_' or '-', "
                    f"starting with a letter (and not {NO_TRANSFORM!r})"
                )
            if not TRANSFORM_TARGET.fullmatch(target):
                raise ValueError(
                    f"transform {name!r} must name 'package.module:function', not {target!r}"
                )
        return value


class SqlSettings(BaseModel):
    """Read-only SQL (GET/POST /sql, README: SQL): what one query may use."""

    # Past this the query is interrupted and answers 422.
    timeout_seconds: float = Field(default=15.0, gt=0)
    # DuckDB's own buffer limit, shared by the queries running at once; nothing spills
    # to disk, so beyond it a query fails (422) instead of filling the disk. Half the
    # API pod's 1 GiB limit (k8s/base/api.yaml) leaves room for the serving caches.
    memory_limit_bytes: int = Field(default=512 * MIB, ge=64 * MIB)
    threads: int = Field(default_factory=lambda: min(os.cpu_count() or 1, 4), ge=1)
    # Rows an answer holds when the request names no limit, and the most it may ask for.
    default_rows: int = Field(default=1000, ge=1)
    max_rows: int = Field(default=100_000, ge=1)
    # Beyond this many queries at once: 503 + Retry-After (each holds memory and threads).
    max_concurrent: int = Field(default=4, ge=1)
    # Datasets one query may reference (each is opened as a view).
    max_datasets: int = Field(default=32, ge=1)
    max_query_chars: int = Field(default=100_000, ge=1)


class WebhookSettings(BaseModel):
    """Webhooks (README: Webhooks): URLs told when a version becomes ready or failed."""

    # Told about every dataset, as a JSON list: MINI_WEBHOOKS__URLS='["https://..."]'.
    urls: list[str] = Field(default_factory=list)
    # Signs every body (HMAC-SHA256); unset, nothing is sent (URLs may still be set).
    secret: SecretStr = SecretStr("")
    # Private, loopback, link-local and other non-public addresses are refused unless
    # this is true (a receiver on the same network, tests).
    allow_private: bool = False
    # Per network operation of one attempt (connect, send, each read).
    timeout_seconds: float = Field(default=10.0, gt=0)
    # Attempts before a delivery is `failed`; waits double from backoff_seconds, capped.
    max_attempts: int = Field(default=8, ge=1)
    backoff_seconds: float = Field(default=30.0, gt=0)
    backoff_max_seconds: float = Field(default=3600.0, gt=0)
    # Deliveries sent at once by one API process.
    max_concurrent: int = Field(default=4, ge=1)
    # How often the deliverer looks for due retries, and for final versions no listener
    # heard (recorded by the reconciler, or while the API was down).
    poll_seconds: float = Field(default=1.0, gt=0)
    catch_up_seconds: float = Field(default=60.0, gt=0)
    # The links in a body are made absolute with this (e.g. https://data.example.com).
    public_url: str = ""
    # Receivers whose certificates a private CA signed: its PEM file, trusted besides
    # the usual public CAs.
    ca_file: Path | None = None


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="MINI_", env_nested_delimiter="__", extra="ignore")

    data_dir: Path = Path(".mini-data")
    host: str = "127.0.0.1"
    port: int = 8000
    database_url: str | None = None
    max_upload_bytes: int = Field(default=5 * GIB, ge=1)
    # Processing: more rejected rows than this share fails the dataset; a longer value
    # fails it too; null tokens as a JSON list (MINI_NULL_TOKENS='["", "NA", "-"]'),
    # unset meaning the processor's built-in list.
    max_reject_ratio: float = Field(default=0.10, ge=0.0, le=1.0)
    max_field_bytes: int = Field(default=16 * MIB, ge=1)
    null_tokens: list[str] | None = None
    storage: StorageSettings = StorageSettings()
    runner: RunnerSettings = RunnerSettings()
    processor: ProcessorSettings = ProcessorSettings()
    sql: SqlSettings = SqlSettings()
    webhooks: WebhookSettings = WebhookSettings()
    # `python -m processor reconcile` deletes datasets older than this; None keeps all.
    retention_days: int | None = Field(default=None, ge=1)
    # Comma-separated bearer keys; when set, the API requires one (see api/auth.py).
    api_keys: SecretStr | None = None
    # Capacity (README: Limits). Uploads beyond this many at once get 503 + Retry-After;
    # they run on their own worker threads, so reads keep theirs.
    max_concurrent_uploads: int = Field(default=16, ge=1)
    # A request body that sends nothing for this long, or less than the minimum rate
    # averaged after the window, is aborted with 408 and nothing is stored.
    upload_idle_timeout_seconds: float = Field(default=30.0, gt=0)
    upload_min_bytes_per_second: int = Field(default=1024, ge=0)
    upload_min_rate_window_seconds: float = Field(default=10.0, gt=0)
    # Deadline of a read's work (pages, column stats); it also stops when the client leaves.
    request_timeout_seconds: float = Field(default=30.0, gt=0)
    # SIGTERM: stop accepting, let requests finish this long, then cancel them and exit
    # (below Kubernetes' default terminationGracePeriodSeconds of 30).
    shutdown_grace_seconds: float = Field(default=20.0, ge=0)
    # Request line and headers: larger answers 414 / 431 (JSON).
    max_url_bytes: int = Field(default=16 * 1024, ge=1024)
    max_header_bytes: int = Field(default=32 * 1024, ge=1024)
    # A file with more columns fails processing with a clear message (README: Limits).
    max_columns: int = Field(default=2000, ge=1)
    # /readyz fails, and uploads answer 507, when the local store has less free space.
    min_free_bytes: int = Field(default=256 * MIB, ge=0)
    # TLS terminates in front of the API (the ingress): Secure cookies and HSTS.
    tls: bool = False
    # Browser sessions (POST /login) last this long; logout revokes one at once.
    session_hours: float = Field(default=8.0, gt=0)
    # Logs of the API, the runners and the processor: "text" for a terminal (make run),
    # "json" (one object per line, with the request id) for a log pipeline.
    log_format: LogFormat = LogFormat.text

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.sqlite3').resolve()}"

    def resolved_storage_root(self) -> Path:
        return (self.storage.root or self.data_dir / "objects").resolve()


# What only the API reads: a processor child never gets these (its env is built from
# the settings by the local runner; Jobs get their own Secret on Kubernetes).
API_ONLY_ENV = ("MINI_API_KEYS", "MINI_WEBHOOKS__", "MINI_SQL__")


def processor_env(settings: Settings, base: Mapping[str, str]) -> dict[str, str]:
    """The environment of a processor child: `base` and `settings` without the
    API's own secrets and settings (API keys, the webhook secret)."""
    env = {**base, **to_env(settings)}
    return {k: v for k, v in env.items() if not k.startswith(API_ONLY_ENV)}


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
            elif isinstance(value, dict | list):
                # Paths in a list (transforms_path) as their text.
                env[key] = json.dumps(value, default=str)
            else:
                env[key] = str(value)

    walk("MINI_", settings)
    return env
