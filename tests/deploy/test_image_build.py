"""The images users deploy, built from Dockerfile.api and Dockerfile.processor and run.

`scripts/build-images.sh` builds both with buildah on a debootstrap'd bookworm base
(cached per machine by the hash of each Dockerfile and what it copies). Here:
what each image holds (read from its docker-archive, layers and whiteouts applied)
and what it does when containerd and runc run it after a `make import`-style
`ctr images import`.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.servers.containerd import Containerd
from tests.servers.images import BuiltImage, ImageArchive, built_images
from tests.servers.process import free_ports

NON_ROOT = "10001:10001"
SITE = "/opt/venv/lib/python3.11/site-packages"
COMPILERS = (
    "/usr/bin/gcc",
    "/usr/bin/cc",
    "/usr/bin/c++",
    "/usr/bin/x86_64-linux-gnu-gcc-*",
    "/usr/bin/clang*",
    "/usr/lib/gcc/*/*/cc1",
)
CSV = b"id;name;score\n1;alpha;1.5\n2;beta;2.5\n3;gamma;3.5\n"


@pytest.fixture(scope="module")
def images() -> dict[str, BuiltImage]:
    return built_images()


@pytest.fixture(scope="module")
def archives(images: dict[str, BuiltImage]) -> dict[str, ImageArchive]:
    return {kind: ImageArchive.read(image.archive) for kind, image in images.items()}


@pytest.fixture(scope="module")
def containerd(images: dict[str, BuiltImage]) -> Iterator[tuple[Containerd, dict[str, str]]]:
    with Containerd() as ctrd:
        refs = {}
        for kind, image in images.items():
            start = time.monotonic()
            refs[kind] = ctrd.import_image(image.archive, image.name)
            print(f"\nctr images import {image.name}: {time.monotonic() - start:.1f}s")
        yield ctrd, refs


def test_sizes_and_config(
    images: dict[str, BuiltImage],
    archives: dict[str, ImageArchive],
    capsys: pytest.CaptureFixture[str],
) -> None:
    with capsys.disabled():
        for kind, archive in archives.items():
            print(
                f"\n{images[kind].name}: {archive.size_mib():.0f} MiB of files,"
                f" archive {images[kind].archive.stat().st_size / 2**20:.0f} MiB"
            )
    api, processor = archives["api"].config["config"], archives["processor"].config["config"]
    assert api["User"] == NON_ROOT and processor["User"] == NON_ROOT
    assert api["Cmd"] == ["python", "-m", "api"]
    assert "8000/tcp" in api["ExposedPorts"]
    assert processor["Entrypoint"] == ["python", "-m", "processor"]
    for config in (api, processor):
        env = dict(e.split("=", 1) for e in config["Env"])
        assert env["PATH"].startswith("/opt/venv/bin:")
        assert env["MINI_DATA_DIR"].startswith("/tmp/")


@pytest.mark.parametrize("kind", ["api", "processor"])
def test_final_stage_has_no_compiler_no_build_leftovers_and_a_non_root_user(
    archives: dict[str, ImageArchive], kind: str
) -> None:
    image = archives[kind]
    for pattern in COMPILERS:
        assert not image.glob(pattern), f"{kind} ships a compiler: {image.glob(pattern)}"
    assert not image.glob("/usr/include/python3*/Python.h")
    assert not image.glob("/usr/include/stdio.h"), "C headers belong to the build stage"
    # Nothing of the build's caches or sources, and not the build machine's CA bundle.
    assert not [p for p in image.files if p.startswith(("/root/.cache/", "/src/"))]
    assert not image.glob("/var/lib/apt/lists/*_Packages")
    bundle = image.files.get("/etc/ssl/certs/ca-certificates.crt")
    host = Path("/etc/ssl/certs/ca-certificates.crt")
    assert bundle is None or not host.exists() or bundle.size != host.stat().st_size
    # Debian's Python, the venv on it, and the user the Pod's securityContext names.
    assert image.files["/usr/bin/python3.11"].kind == "file"
    assert image.files["/opt/venv/bin/python"].kind == "symlink"
    assert "/opt/venv/bin/pip" in image.files


def test_what_each_image_installs(archives: dict[str, ImageArchive]) -> None:
    api, processor = archives["api"], archives["processor"]
    assert api.glob(f"{SITE}/fastapi/__init__.py")
    assert api.glob(f"{SITE}/kubernetes/__init__.py")
    assert not api.glob(f"{SITE}/pandas/__init__.py"), "no pandas in the API image"
    assert not api.glob(f"{SITE}/processor/__init__.py")
    assert processor.glob(f"{SITE}/pandas/__init__.py")
    assert not processor.glob(f"{SITE}/fastapi/__init__.py")
    assert not processor.glob(f"{SITE}/api/__init__.py")
    # The compiled kernels were built in the build stage and shipped in the venv.
    assert processor.glob(f"{SITE}/processor/pipeline/_native*.so")
    for image in (api, processor):
        assert image.glob(f"{SITE}/core/settings.py")


def run_in(
    ctrd: Containerd,
    ref: str,
    name: str,
    *argv: str,
    mounts: list[str] = (),
    net_host: bool = False,
) -> subprocess.CompletedProcess[bytes]:
    flags = [
        "--rm",
        "--read-only",
        "--mount",
        "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev",
    ]
    for mount in mounts:
        flags += ["--mount", mount]
    if net_host:
        flags.append("--net-host")
    return ctrd.ctr("run", *flags, ref, name, *argv, check=False, timeout=120)


def test_processor_image_turns_a_csv_into_parquet_as_uid_10001_on_a_read_only_root(
    containerd: tuple[Containerd, dict[str, str]], tmp_path: Path
) -> None:
    ctrd, refs = containerd
    data = tmp_path / "data"
    data.mkdir()
    os.chmod(data, 0o777)  # the container's uid writes here
    (data / "in.csv").write_bytes(CSV)
    start = time.monotonic()
    result = run_in(
        ctrd,
        refs["processor"],
        "processor-csv",
        "python",
        "-m",
        "processor",
        "process",
        "/data/in.csv",
        "/data/out",
        mounts=[f"type=bind,src={data},dst=/data,options=rbind:rw"],
    )
    elapsed = time.monotonic() - start
    assert result.returncode == 0, result.stdout.decode() + result.stderr.decode()
    print(f"\nprocessor container, 3-row CSV, start to exit: {elapsed:.2f}s")
    table = pq.read_table(data / "out" / "data.parquet")
    assert table.num_rows == 3
    assert table.column_names[:3] == ["id", "name", "score"]
    assert table.column("score").to_pylist() == [1.5, 2.5, 3.5]
    assert (data / "out" / "data.parquet").stat().st_uid == 10001

    probe = run_in(
        ctrd,
        refs["processor"],
        "processor-probe",
        "python",
        "-c",
        "import os, pathlib\n"
        "print(os.getuid(), os.getgid())\n"
        "try:\n"
        "    pathlib.Path('/opt/venv/x').write_text('x')\n"
        "except OSError as e:\n"
        "    print(e.errno)\n",
    )
    assert probe.returncode == 0, probe.stderr.decode()
    uid_gid, errno = probe.stdout.decode().split("\n")[:2]
    assert uid_gid == "10001 10001"
    assert errno == "30", "EROFS: the root filesystem is read-only"


@pytest.mark.parametrize(
    ("image", "imports"),
    [
        ("processor", "import processor.__main__, core.storage.s3"),
        ("api", "import api.main, api.runners.kubernetes, core.storage.s3, core.catalog"),
    ],
)
def test_image_compiles_nothing_at_a_start(
    containerd: tuple[Containerd, dict[str, str]], image: str, imports: str
) -> None:
    """Every module a start imports comes from a .pyc that Python takes as is: the root
    is read-only, so a stale one (pip's record mtimes, which the layers round) would be
    compiled again at every pod's start (issue 14; the Dockerfiles' compileall)."""
    ctrd, refs = containerd
    result = run_in(ctrd, refs[image], f"{image}-pyc", "python", "-v", "-c", imports)
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    lines = result.stderr.decode().splitlines()
    loaded = [line for line in lines if line.startswith("# code object from ")]
    compiled = [line for line in loaded if not line.rstrip("'").endswith(".pyc")]
    stale = [line for line in lines if line.startswith("# bytecode is stale")]
    assert len(loaded) > 300, "the listing is complete"
    assert not stale and not compiled, (stale + compiled)[:20]


def test_processor_image_exits_2_on_bad_input(
    containerd: tuple[Containerd, dict[str, str]], tmp_path: Path
) -> None:
    ctrd, refs = containerd
    result = run_in(
        ctrd,
        refs["processor"],
        "processor-missing",
        "python",
        "-m",
        "processor",
        "process",
        "/nonexistent.csv",
        "/tmp/out",
    )
    assert result.returncode == 2, result.stdout.decode() + result.stderr.decode()


def test_api_image_serves_healthz_and_readyz(
    containerd: tuple[Containerd, dict[str, str]],
) -> None:
    ctrd, refs = containerd
    (port,) = free_ports(1)
    name = "api-health"
    ctrd.ctr(
        "run",
        "-d",
        "--read-only",
        "--net-host",
        "--mount",
        "type=tmpfs,src=tmpfs,dst=/tmp,options=rw:nosuid:nodev",
        "--env",
        "MINI_HOST=127.0.0.1",
        "--env",
        f"MINI_PORT={port}",
        refs["api"],
        name,
    )
    try:
        deadline = time.monotonic() + 60
        answers: dict[str, int] = {}
        while time.monotonic() < deadline and len(answers) < 2:
            for path in ("/healthz", "/readyz"):
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
                        answers[path] = r.status
                except OSError:
                    time.sleep(0.2)
        assert answers == {"/healthz": 200, "/readyz": 200}, ctrd.log_tail()
        pids = ctrd.ctr("tasks", "ps", name).stdout.decode().split()[2::2]
        uids = {
            line.split()[1]
            for pid in pids
            for line in Path(f"/proc/{pid}/status").read_text().splitlines()
            if line.startswith("Uid:")
        }
        assert uids == {"10001"}, json.dumps(pids)
    finally:
        ctrd.ctr("tasks", "kill", "-s", "SIGKILL", name, check=False)
        time.sleep(0.5)
        ctrd.ctr("tasks", "delete", "-f", name, check=False)
        ctrd.ctr("containers", "delete", name, check=False)
