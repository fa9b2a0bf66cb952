"""`make run` installs only what running needs, with pip's progress; `make test` adds the
dev extras under a stamp of its own (README: Quick start). Dry runs only: nothing is
installed."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def dry_run(target: str) -> list[str]:
    # -W pyproject.toml: as if it had changed, so the install rules are printed too.
    done = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", target],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if "pip install" in line]


def test_make_run_installs_the_api_and_processor_extras_only() -> None:
    installs = dry_run("run")
    assert any("-e '.[api,processor]'" in line for line in installs), installs
    assert not any("dev" in line for line in installs), installs
    # Progress stays visible; setuptools' editable-install banner does not.
    assert all(" -q" not in line for line in installs), installs
    assert all("PYTHONWARNINGS=ignore" in line for line in installs), installs


def test_the_dev_tools_have_their_own_stamp() -> None:
    installs = dry_run("lint")
    assert any("-e '.[api,processor,dev]'" in line for line in installs), installs
    done = subprocess.run(
        ["make", "-n", "-p", "test"], cwd=ROOT, capture_output=True, text=True, check=False
    )
    rules = [line for line in done.stdout.splitlines() if line.startswith("test:")]
    assert rules and {"venv", "dev"} <= set(rules[0].split(":", 1)[1].split()), rules
