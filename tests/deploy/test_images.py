"""Dockerfile.api and Dockerfile.processor: lint, shape, and what each image installs.

No container engine runs here, so the images are not built; instead the checks
read the Dockerfiles and resolve exactly the install they perform with pip.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path

import pytest

from .dockerfile import Stage, pip_install_specs, stages

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
DOCKERFILES = {"api": ROOT / "Dockerfile.api", "processor": ROOT / "Dockerfile.processor"}
# Debian's own slim base, pinned by digest: the tests rebuild the same release with
# debootstrap (scripts/build-images.sh), which a python:*-slim base (Python built
# from source under /usr/local) would not allow.
PINNED_DEBIAN_SLIM = re.compile(r"debian:(bookworm|trixie)-slim@sha256:[0-9a-f]{64}")
NON_ROOT_UID = "10001"
BUILD_TOOLS = ("gcc", "libc6-dev", "-dev ", "build-essential", "make ", "git ", "pip ")
# An exact Debian revision (`pkg=1.2-3+deb12u4`) stops installing at the next point release.
APT_REVISION_PIN = re.compile(r"\b[a-z0-9.+-]+=[0-9][^\s]*")


def extras() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return dict(data["project"]["optional-dependencies"])


def requirement_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def hadolint(path: Path, *flags: str) -> list[dict[str, object]]:
    result = subprocess.run(
        [
            str(VENV_BIN / "hadolint"),
            "--failure-threshold",
            "style",
            "--format",
            "json",
            *flags,
            str(path),
        ],
        capture_output=True,
        text=True,
    )
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    assert (result.returncode == 0) == (findings == []), result.stderr
    return findings


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_passes_and_ignores_only_the_apt_revision_pin_rule(image: str) -> None:
    path = DOCKERFILES[image]
    assert hadolint(path) == []
    # The inline ignores waive DL3008 (pin apt versions) and nothing else: the
    # base is pinned by digest instead, and apt takes that release's packages.
    waived = hadolint(path, "--disable-ignore-pragma")
    assert waived, "the ignore pragmas must still be needed"
    assert {f["code"] for f in waived} == {"DL3008"}, json.dumps(waived, indent=2)
    pragmas = re.findall(r"#\s*hadolint\s+ignore=(\S+)", path.read_text())
    assert pragmas and set(pragmas) == {"DL3008"}


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_is_multistage_debian_slim_pinned_non_root_and_ships_the_venv_only(
    image: str,
) -> None:
    build, *middle, final = stages(DOCKERFILES[image])
    assert not middle, "one build stage and one final stage"
    for stage in (build, final):
        assert PINNED_DEBIAN_SLIM.fullmatch(stage.base), f"not pinned by digest: {stage.base}"
    assert build.base == final.base, "the venv must run on the Python it was built with"
    assert build.name, "the build stage needs a name to copy from"
    for stage in (build, final):
        runs = " ".join(stage.args("RUN"))
        assert not APT_REVISION_PIN.search(runs), APT_REVISION_PIN.search(runs)

    # Everything in the final image from the build stage is the venv; nothing
    # comes from the build context (sources, tests, caches).
    assert not final.args("ADD")
    copies = final.args("COPY")
    assert copies == [f"--from={build.name} /opt/venv /opt/venv"]

    # The final stage installs Debian's python3 (the venv's interpreter) and
    # nothing to build with; the built image is checked too (test_image_build.py).
    final_runs = " ".join(final.args("RUN"))
    installs = re.findall(r"apt-get install ([^&]*)", final_runs)
    assert [i.split() for i in installs] == [["-y", "--no-install-recommends", "python3"]]
    assert not any(tool in final_runs for tool in BUILD_TOOLS), final_runs
    users = final.args("USER")
    assert users and users[-1].split(":")[0] == NON_ROOT_UID, users
    assert NON_ROOT_UID in final_runs, "the uid must exist in /etc/passwd"


def test_only_the_processor_image_builds_the_c_kernels() -> None:
    """setup.py builds processor/pipeline/native/: the processor's build stage has
    it and a compiler; the API's has neither (it never loads the kernels)."""
    processor = stages(DOCKERFILES["processor"])[0]
    copied = " ".join(processor.args("COPY")).split()
    assert "setup.py" in copied
    assert re.search(
        r"apt-get install .*\bpython3-dev\b.*\bgcc\b.*\blibc6-dev\b",
        " ".join(processor.args("RUN")),
    )
    api = stages(DOCKERFILES["api"])[0]
    assert "setup.py" not in " ".join(api.args("COPY")).split()
    assert "gcc" not in " ".join(api.args("RUN"))


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_dockerfile_installs_its_extra_like_the_tests_do(image: str) -> None:
    build = stages(DOCKERFILES[image])[0]
    assert pip_install_specs(build) == [f".[{image}]"]
    assert image in extras()
    # `make test`'s venv installs the same extras, so the code the tests exercise
    # has the dependencies the image gets.
    makefile = (ROOT / "Makefile").read_text()
    # The test venv's editable install: the one with the dev extra.
    installs = [e.split(",") for e in re.findall(r"-e '\.\[([a-z,]+)\]'", makefile)]
    tested = [extras for extras in installs if "dev" in extras]
    assert tested and image in tested[0], installs


def resolve(stage: Stage) -> set[str]:
    """Every distribution pip would install for the stage's `pip install`, by name."""
    report = subprocess.run(
        [
            str(VENV_BIN / "python"),
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--report",
            "-",
            *pip_install_specs(stage),
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {
        item["metadata"]["name"].lower().replace("_", "-") for item in json.loads(report)["install"]
    }


def test_api_image_carries_no_pandas() -> None:
    assert "pandas" not in {requirement_name(r) for r in extras()["api"]}
    # Transitively too: resolve the Dockerfile's own install.
    api = resolve(stages(DOCKERFILES["api"])[0])
    assert {"fastapi", "uvicorn", "kubernetes", "mini-pipeline"} <= api
    assert "pandas" not in api, sorted(api)
    processor = resolve(stages(DOCKERFILES["processor"])[0])
    assert "pandas" in processor, "the processor image needs pandas; the check above must see it"
    assert "fastapi" not in processor


def dockerignore_patterns() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def ignored(path: str, patterns: list[str]) -> bool:
    hit = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").rstrip("/")
        candidates = [pattern, pattern.replace("**/", "")]
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch(p, c) for p in prefixes for c in candidates):
            hit = not negate
    return hit


def test_dockerignore_keeps_the_context_to_what_the_images_copy() -> None:
    patterns = dockerignore_patterns()
    needed = ["pyproject.toml", "README.md", "api/main.py", "core/settings.py", "processor/run.py"]
    for stage in (s for f in DOCKERFILES.values() for s in stages(f)):
        for copy in stage.args("COPY"):
            if not copy.startswith("--from"):
                needed += copy.split()[:-1]
    for path in needed:
        assert not ignored(path, patterns), f"{path} is needed by a COPY but ignored"
    for path in (
        ".venv/bin/python",
        ".bin/kubectl",
        ".mini-data/catalog.sqlite3",
        "tests/artifacts/x",
        "tests/test_settings.py",
        ".git/HEAD",
        ".mypy_cache/x",
        ".pytest_cache/x",
        ".ruff_cache/x",
        "api/__pycache__/main.cpython-311.pyc",
        "node_modules/x/index.js",
    ):
        assert ignored(path, patterns), f"{path} would be sent to the image build"
