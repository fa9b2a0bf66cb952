"""The two images, built from the repository's Dockerfiles by `scripts/build-images.sh`.

The script caches per machine by a hash of each Dockerfile and the files it
copies, so calling `built_images()` is cheap when nothing changed; it writes
`.bin/images.env`, read here.

`ImageArchive` reads a docker-archive (what `docker save` and `buildah push
docker-archive:` write) without any container engine: the image config and the
final file tree, layer whiteouts applied.
"""

from __future__ import annotations

import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = ROOT / "scripts" / "build-images.sh"
ENV_FILE = ROOT / ".bin" / "images.env"
STANDINS_SCRIPT = ROOT / "scripts" / "build-standins.sh"
STANDINS_ENV = ROOT / ".bin" / "standins.env"


@dataclass(frozen=True)
class BuiltImage:
    name: str  # e.g. mini-pipeline-api:ctx-0123456789abcdef
    archive: Path

    @property
    def repository(self) -> str:
        return self.name.rsplit(":", 1)[0]

    @property
    def tag(self) -> str:
        return self.name.rsplit(":", 1)[1]


def built_images() -> dict[str, BuiltImage]:
    """{"api": ..., "processor": ...}, building whatever is not cached yet."""
    subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    env = dict(line.split("=", 1) for line in ENV_FILE.read_text().splitlines() if "=" in line)
    return {
        kind: BuiltImage(env[f"{kind.upper()}_IMAGE"], Path(env[f"{kind.upper()}_ARCHIVE"]))
        for kind in ("api", "processor")
    }


def standin_images() -> dict[str, BuiltImage]:
    """{"s3": ..., "postgres": ...}: the test-only stand-ins for the MinIO, mc and
    PostgreSQL images (tests/deploy/standins), built when not cached yet."""
    subprocess.run(["bash", str(STANDINS_SCRIPT)], check=True)
    env = dict(line.split("=", 1) for line in STANDINS_ENV.read_text().splitlines() if "=" in line)
    return {
        kind: BuiltImage(env[f"{kind.upper()}_IMAGE"], Path(env[f"{kind.upper()}_ARCHIVE"]))
        for kind in ("s3", "postgres")
    }


@dataclass
class Entry:
    path: str
    kind: str  # "file", "dir", "symlink", "other"
    size: int
    mode: int
    uid: int
    linkname: str = ""


@dataclass
class ImageArchive:
    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Entry] = field(default_factory=dict)

    @classmethod
    def read(cls, path: Path) -> ImageArchive:
        image = cls(path)
        with tarfile.open(path) as outer:
            manifest = json.load(_member(outer, "manifest.json"))
            (entry,) = manifest
            image.config = json.load(_member(outer, entry["Config"]))
            for layer in entry["Layers"]:
                with tarfile.open(fileobj=_member(outer, layer), mode="r|*") as tar:
                    image._apply(tar)
        return image

    def _apply(self, layer: tarfile.TarFile) -> None:
        for member in layer:
            path = str(PurePosixPath("/") / member.name)
            name = PurePosixPath(path).name
            parent = str(PurePosixPath(path).parent)
            if name == ".wh..wh..opq":
                prefix = parent.rstrip("/") + "/"
                for p in [p for p in self.files if p.startswith(prefix)]:
                    del self.files[p]
                continue
            if name.startswith(".wh."):
                gone = str(PurePosixPath(parent) / name[4:])
                for p in [p for p in self.files if p == gone or p.startswith(gone + "/")]:
                    del self.files[p]
                continue
            if member.isdir():
                kind = "dir"
            elif member.issym() or member.islnk():
                kind = "symlink"
            elif member.isfile():
                kind = "file"
            else:
                kind = "other"
            self.files[path] = Entry(
                path, kind, member.size, member.mode, member.uid, member.linkname
            )

    @property
    def user(self) -> str:
        return str(self.config.get("config", {}).get("User", ""))

    def glob(self, pattern: str) -> list[str]:
        return sorted(p for p in self.files if PurePosixPath(p).match(pattern))

    def size_mib(self) -> float:
        return sum(e.size for e in self.files.values() if e.kind == "file") / 2**20


def _member(tar: tarfile.TarFile, name: str) -> Any:
    fh = tar.extractfile(name)
    assert fh is not None, f"{name} missing from the archive"
    return fh
