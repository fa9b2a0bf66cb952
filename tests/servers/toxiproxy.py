"""Toxiproxy (MIT), built from source (scripts/build-toxiproxy.sh): a TCP proxy on
loopback between the service and a real server, whose faults tests switch on and off
(latency, bandwidth, a cut connection) through its HTTP API."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from .process import die_with_parent, free_ports

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-toxiproxy.sh"
BINARY = ROOT / ".bin" / "toxiproxy-server"
START_TIMEOUT = 30.0


class Toxiproxy:
    def __init__(self) -> None:
        if not BINARY.exists():
            subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
        (self.api_port,) = free_ports(1)
        self.api = f"http://127.0.0.1:{self.api_port}"
        self.log_path = Path(tempfile.mkdtemp(prefix="toxiproxy-")) / "toxiproxy.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Toxiproxy:
        log = self.log_path.open("ab")
        self._proc = subprocess.Popen(
            [str(BINARY), "-host", "127.0.0.1", "-port", str(self.api_port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.api}/version", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                time.sleep(0.1)
        raise RuntimeError(f"toxiproxy did not start: {self.log_path.read_text()[-2000:]}")

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            self._proc.wait(10)
        self._proc = None

    def proxy(self, name: str, upstream: str) -> Proxy:
        """A proxy on a free loopback port to `upstream` (host:port)."""
        (port,) = free_ports(1)
        body = {"name": name, "listen": f"127.0.0.1:{port}", "upstream": upstream}
        httpx.post(f"{self.api}/proxies", json=body, timeout=10).raise_for_status()
        return Proxy(self, name, f"127.0.0.1:{port}")

    def __enter__(self) -> Toxiproxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class Proxy:
    def __init__(self, server: Toxiproxy, name: str, listen: str) -> None:
        self.server = server
        self.name = name
        self.listen = listen
        self._url = f"{server.api}/proxies/{name}"

    def enabled(self, on: bool) -> None:
        """Off: every connection through it is closed, and new ones are refused."""
        httpx.post(self._url, json={"enabled": on}, timeout=10).raise_for_status()

    def toxic(self, kind: str, stream: str = "downstream", **attributes: Any) -> str:
        name = f"{kind}_{stream}"
        body = {"name": name, "type": kind, "stream": stream, "attributes": attributes}
        httpx.post(f"{self._url}/toxics", json=body, timeout=10).raise_for_status()
        return name

    def clear(self) -> None:
        for toxic in httpx.get(f"{self._url}/toxics", timeout=10).json():
            httpx.delete(f"{self._url}/toxics/{toxic['name']}", timeout=10).raise_for_status()
        self.enabled(True)
