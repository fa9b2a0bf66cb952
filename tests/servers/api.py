"""Runs the real API (`python -m api`, uvicorn) as a subprocess on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType

import httpx

from .process import free_ports

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


class ApiServer:
    def __init__(self, data_dir: Path, env: dict[str, str] | None = None) -> None:
        self.data_dir = data_dir
        self.port = free_ports(1)[0]
        self.url = f"http://127.0.0.1:{self.port}"
        self.tmp_dir = data_dir / "tmp"
        self.log_path = data_dir / "api.log"
        self._extra = env or {}
        self.proc: subprocess.Popen[bytes] | None = None

    def env(self) -> dict[str, str]:
        base = {k: v for k, v in os.environ.items() if not k.startswith("MINI_")}
        return {
            **base,
            "MINI_DATA_DIR": str(self.data_dir),
            "MINI_PORT": str(self.port),
            # Anything the server spools to temp files lands here, where tests look.
            "TMPDIR": str(self.tmp_dir),
            **self._extra,
        }

    def command(self) -> list[str]:
        """What serves the API (a subclass may serve it otherwise, e.g. several workers)."""
        return [sys.executable, "-m", "api"]

    def start(self) -> ApiServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.command(), cwd=ROOT, env=self.env(), stdout=log, stderr=log
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"API exited at start:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"API did not answer within {START_TIMEOUT}s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def wait_final(client: httpx.Client, dataset_id: str, timeout: float = 120.0) -> dict[str, object]:
    """Poll a dataset's status until it is ready or failed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body: dict[str, object] = client.get(f"/datasets/{dataset_id}/status").json()
        if body["status"] in ("ready", "failed"):
            return body
        time.sleep(0.2)
    raise TimeoutError(f"dataset {dataset_id} not final after {timeout}s")


BOUNDARY = "mini-pipeline-test-boundary-7d1c"
MULTIPART_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def multipart_stream(
    chunks: Iterable[bytes], filename: str = "data.csv", field: str = "file", close: bool = True
) -> Iterator[bytes]:
    """A multipart/form-data body produced lazily, so huge uploads never sit in memory."""
    yield (
        f"--{BOUNDARY}\r\n"
        f'Content-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    yield from chunks
    if close:
        yield f"\r\n--{BOUNDARY}--\r\n".encode()
