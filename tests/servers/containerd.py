"""A private containerd (Debian's package, with runc), for running the images the tests build.

Its own root, state and socket in one temp dir, so it never meets another
containerd on the machine. Images go in the way `make import` puts them into
MicroK8s: `ctr -n k8s.io images import <docker-archive>`, which registers
`docker.io/library/NAME:TAG`.

    with Containerd() as ctrd:
        ref = ctrd.import_image(archive, "mini-pipeline-processor:ctx-...")
        ctrd.ctr("run", "--rm", ref, "job-1", "python", "-m", "processor", "--help")

``cri=True`` also serves the CRI plugin (for a kubelet), with a locally built
sandbox ("pause") image and a loopback-only CNI network: see ``tests/servers/node.py``.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from .process import die_with_parent

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
NAMESPACE = "k8s.io"
# Debian's containernetworking-plugins (a buildah dependency) put them here.
CNI_BIN_DIR = Path("/usr/lib/cni")


def docker_ref(name: str) -> str:
    """What containerd (and a kubelet) call an image named NAME:TAG with no registry."""
    first = name.split("/", 1)[0]
    if "/" in name and ("." in first or ":" in first or first == "localhost"):
        return name
    return f"docker.io/library/{name}" if "/" not in name else f"docker.io/{name}"


class Containerd:
    def __init__(self, *, cri: bool = False, sandbox_image: str = "", keep: bool = False) -> None:
        for tool in ("containerd", "ctr", "runc", "containerd-shim-runc-v2"):
            if shutil.which(tool) is None:
                subprocess.run(
                    ["bash", str(ROOT / "scripts" / "ensure-image-tools.sh")], check=True
                )
                break
        self.cri = cri
        self.sandbox_image = sandbox_image
        self.keep = keep or bool(os.environ.get("MINI_CONTAINERD_KEEP"))
        self.workdir = Path(tempfile.mkdtemp(prefix="containerd-"))
        self.socket = self.workdir / "containerd.sock"
        self.log_path = self.workdir / "containerd.log"
        self.cni_conf_dir = self.workdir / "cni"
        self._proc: subprocess.Popen[bytes] | None = None
        atexit.register(self.stop)

    def _config(self) -> str:
        w = self.workdir
        lines = [
            "version = 2",
            f'root = "{w / "root"}"',
            f'state = "{w / "state"}"',
            "[grpc]",
            f'  address = "{self.socket}"',
            "[ttrpc]",
            f'  address = "{self.socket}.ttrpc"',
            "[debug]",
            '  level = "info"',
            "[metrics]",
            '  address = ""',
        ]
        if not self.cri:
            lines.insert(1, 'disabled_plugins = ["io.containerd.grpc.v1.cri"]')
            return "\n".join(lines) + "\n"
        lines += [
            '[plugins."io.containerd.grpc.v1.cri"]',
            f'  sandbox_image = "{self.sandbox_image}"',
            "  enable_selinux = false",
            "  restrict_oom_score_adj = true",
            "  disable_apparmor = true",
            '[plugins."io.containerd.grpc.v1.cri".containerd]',
            '  snapshotter = "overlayfs"',
            '  default_runtime_name = "runc"',
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]',
            '  runtime_type = "io.containerd.runc.v2"',
            '[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]',
            "  SystemdCgroup = false",
            '[plugins."io.containerd.grpc.v1.cri".cni]',
            f'  bin_dir = "{CNI_BIN_DIR}"',
            f'  conf_dir = "{self.cni_conf_dir}"',
        ]
        return "\n".join(lines) + "\n"

    def _write_cni(self) -> None:
        # Pods that are not hostNetwork get a network namespace of their own with
        # only a loopback interface: they can reach nothing, and nothing them.
        self.cni_conf_dir.mkdir()
        (self.cni_conf_dir / "10-loopback.conflist").write_text(
            '{"cniVersion": "0.4.0", "name": "mini-loopback", "plugins": [{"type": "loopback"}]}\n'
        )

    def start(self) -> Containerd:
        config = self.workdir / "config.toml"
        config.write_text(self._config())
        if self.cri:
            self._write_cni()
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                ["containerd", "--config", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent if sys.platform.startswith("linux") else None,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"containerd exited {self._proc.returncode}:\n{self.log_tail()}")
            if self.socket.exists() and self.ctr("version", check=False).returncode == 0:
                return self
            time.sleep(0.1)
        raise RuntimeError(f"containerd not serving after {START_TIMEOUT}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text("utf-8", "replace").splitlines()[-lines:])
        return ""

    def ctr(
        self, *args: str, check: bool = True, timeout: float = 300, input: bytes | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run(
            ["ctr", "--address", str(self.socket), "--namespace", NAMESPACE, *args],
            capture_output=True,
            timeout=timeout,
            input=input,
        )
        if check and result.returncode != 0:
            raise RuntimeError(
                f"ctr {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout.decode(errors='replace')}{result.stderr.decode(errors='replace')}"
            )
        return result

    def import_image(self, archive: Path, name: str) -> str:
        """`make import`'s step: the docker-archive into the k8s.io namespace. Returns its ref."""
        with archive.open("rb") as fh:
            self.ctr("images", "import", "-", input=fh.read(), timeout=600)
        ref = docker_ref(name)
        listed = self.ctr("images", "list", "-q").stdout.decode().split()
        if ref not in listed:
            raise RuntimeError(f"{archive} imported, but {ref} is not among {listed}")
        return ref

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            # Tasks first: their shims outlive containerd otherwise.
            with contextlib.suppress(Exception):
                for task in self.ctr("tasks", "list", "-q", check=False).stdout.decode().split():
                    self.ctr("tasks", "kill", "-s", "SIGKILL", task, check=False, timeout=10)
                    self.ctr("tasks", "delete", "-f", task, check=False, timeout=10)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not self.keep:
            # Snapshots may still be mounted if a shim died oddly.
            with contextlib.suppress(Exception):
                subprocess.run(
                    f"grep -o ' {self.workdir}[^ ]*' /proc/mounts | sort -r | xargs -r umount -l",
                    shell=True,
                    check=False,
                    capture_output=True,
                )
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Containerd:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
