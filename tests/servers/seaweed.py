"""The real S3 server for tests: SeaweedFS (Apache-2.0), every component in one process.

`weed server -filer -s3` runs master, volume server, filer and S3 gateway
together, bound to 127.0.0.1 on ports picked here (HTTP and gRPC, so the
default "gRPC = HTTP + 10000" rule never collides with anything), with its data
in a temp dir and an identities file so the S3 gateway enforces credentials.

`stop()` / `start()` restart it on the same ports and the same data, so tests
can take the store away and bring it back.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from types import TracebackType

import urllib3
from minio import Minio

from .process import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-weed.sh"
WEED_LINK = ROOT / ".bin" / "weed"

START_TIMEOUT = 90.0
# weed's all-in-one shutdown stops the volume server before the filer, whose
# final metadata-log flush then waits forever; everything durable is on disk by
# then, so after a short grace period the process is killed.
STOP_TIMEOUT = 2.0
PROBE_BUCKET = "weed-readiness-probe"

# The gRPC listeners weed also opens on Unix sockets, at paths it does not let
# us choose (see weed/command/server.go); removed on close.
_GRPC_SOCKETS = ("master", "volume", "filer", "s3")


def weed_binary() -> Path:
    """Path of .bin/weed, built by scripts/build-weed.sh when missing.

    The script runs every time: with the binary cached it only relinks (a few
    ms), and it rebuilds when the pinned version in it changed.
    """
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    if not (WEED_LINK.is_file() and os.access(WEED_LINK, os.X_OK)):
        raise RuntimeError(f"{BUILD_SCRIPT} ran but {WEED_LINK} is not an executable")
    return WEED_LINK


class SeaweedS3:
    """One SeaweedFS server with the S3 gateway; use as a context manager or start()/close()."""

    def __init__(
        self,
        *,
        access_key: str | None = None,
        secret_key: str | None = None,
        volume_size_limit_mb: int = 64,
        max_volumes: int = 64,
    ) -> None:
        self.access_key = access_key or f"mini{secrets.token_hex(6)}"
        self.secret_key = secret_key or secrets.token_urlsafe(24)
        self.binary = weed_binary()
        # Short path: the filer / S3 Unix sockets live here and sun_path is 108 bytes.
        self.workdir = Path(tempfile.mkdtemp(prefix="weed-"))
        self.data_dir = self.workdir / "data"
        self.conf_dir = self.workdir / "conf"
        self.log_path = self.workdir / "weed.log"
        self.data_dir.mkdir()
        self.conf_dir.mkdir()
        (
            self.s3_port,
            self.s3_grpc_port,
            self.master_port,
            self.master_grpc_port,
            self.volume_port,
            self.volume_grpc_port,
            self.filer_port,
            self.filer_grpc_port,
        ) = free_ports(8)
        self.endpoint = f"127.0.0.1:{self.s3_port}"
        self._write_config()
        self.command = self._command(volume_size_limit_mb, max_volumes)
        self._proc: subprocess.Popen[bytes] | None = None
        self._closed = False
        atexit.register(self.close)

    # -- configuration -------------------------------------------------------------

    def _write_config(self) -> None:
        identities = {
            "identities": [
                {
                    "name": "admin",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                }
            ]
        }
        self.s3_config = self.conf_dir / "s3.json"
        self.s3_config.write_text(json.dumps(identities, indent=2))
        self.s3_config.chmod(0o600)
        # Every bucket is its own collection; the default grows 7 volumes for each
        # new one, which a bucket-per-test suite would exhaust quickly. One will do.
        (self.conf_dir / "master.toml").write_text(
            "[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 1\ncopy_3 = 1\ncopy_other = 1\n"
        )

    def _command(self, volume_size_limit_mb: int, max_volumes: int) -> list[str]:
        return [
            str(self.binary),
            "-logtostderr",
            "-v=0",
            f"-config_dir={self.conf_dir}",
            "server",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir}",
            f"-master.port={self.master_port}",
            f"-master.port.grpc={self.master_grpc_port}",
            f"-master.volumeSizeLimitMB={volume_size_limit_mb}",
            "-master.telemetry=false",
            # A restarted single master waits one election timeout (default 10s)
            # before it leads again.
            "-master.electionTimeout=1s",
            f"-volume.port={self.volume_port}",
            f"-volume.port.grpc={self.volume_grpc_port}",
            f"-volume.max={max_volumes}",
            "-volume.preStopSeconds=0",
            "-filer",
            f"-filer.port={self.filer_port}",
            f"-filer.port.grpc={self.filer_grpc_port}",
            f"-filer.localSocket={self.workdir / 'filer.sock'}",
            "-s3",
            f"-s3.port={self.s3_port}",
            f"-s3.port.grpc={self.s3_grpc_port}",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.localSocket={self.workdir / 's3.sock'}",
            f"-s3.config={self.s3_config}",
        ]

    # -- lifecycle -----------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def client(self, *, secret_key: str | None = None, timeout: float = 60.0) -> Minio:
        """A minio client for this server (no retries, short connect timeout)."""
        http = urllib3.PoolManager(
            timeout=urllib3.Timeout(connect=2.0, read=timeout),
            retries=urllib3.Retry(total=0, connect=0, read=0, redirect=0),
        )
        return Minio(
            endpoint=self.endpoint,
            access_key=self.access_key,
            secret_key=secret_key if secret_key is not None else self.secret_key,
            secure=False,
            http_client=http,
        )

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start (or restart after stop()) on the same ports and data; no-op if running.

        Returns once an object can be written. A first start takes ~11 s; a restart
        ~17 s, because a restarted master with existing volumes refuses volume
        assignments for a hard-coded warmup of 3 heartbeats (15 s).
        """
        if self._closed:
            raise RuntimeError("SeaweedS3 was closed")
        if self.running:
            return
        with self.log_path.open("ab") as log:
            log.write(
                f"\n=== start {time.strftime('%H:%M:%S')}: {' '.join(self.command)}\n".encode()
            )
            log.flush()
            self._proc = subprocess.Popen(
                self.command,
                cwd=self.workdir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        """Ready = S3 accepts our key and can store an object (volumes are assigned)."""
        deadline = time.monotonic() + timeout
        client = self.client(timeout=30.0)
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"weed exited with code {self._proc.returncode} while starting\n"
                    f"{self.log_tail()}"
                )
            try:
                client.list_buckets()
                if not client.bucket_exists(bucket_name=PROBE_BUCKET):
                    client.make_bucket(bucket_name=PROBE_BUCKET)
                key = f"probe-{uuid.uuid4().hex}"
                client.put_object(
                    bucket_name=PROBE_BUCKET, object_name=key, data=io.BytesIO(b"ok"), length=2
                )
                client.remove_object(bucket_name=PROBE_BUCKET, object_name=key)
                return
            except Exception as exc:  # not up yet: refused, 5xx, no volumes yet...
                last_error = exc
                time.sleep(0.25)
        raise TimeoutError(
            f"SeaweedFS S3 at {self.endpoint} not ready after {timeout:.0f}s "
            f"(last error: {last_error!r})\n{self.log_tail()}"
        )

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Stop the process (SIGTERM, then SIGKILL); data and ports are kept for start()."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop and delete everything (data dir, sockets)."""
        if self._closed:
            return
        self.stop()
        self._closed = True
        atexit.unregister(self.close)
        for name, port in zip(
            _GRPC_SOCKETS,
            (self.master_grpc_port, self.volume_grpc_port, self.filer_grpc_port, self.s3_grpc_port),
            strict=True,
        ):
            Path(f"/tmp/seaweedfs-{name}-grpc-{port}.sock").unlink(missing_ok=True)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 60) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log at {self.log_path}: {exc})"
        tail = "\n".join(text.splitlines()[-lines:])
        return f"--- last {lines} lines of {self.log_path} ---\n{tail}"

    def __enter__(self) -> SeaweedS3:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<SeaweedS3 {self.endpoint} {state} {self.workdir}>"
