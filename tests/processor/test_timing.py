"""A cold `python -m processor run` says where its time went on its last JSON line
(processor/timing.py), with the cycle collector paused over its imports
(processor/coldstart.py). Figures are printed, never asserted: speed goals live in
`make bench` and the real-node test."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from .conftest import cold_run_upload

ROOT = Path(__file__).resolve().parents[2]
TINY = b"id;name;score\n1;alpha;1.5\n2;beta;2.5\n3;gamma;3.5\n"


def test_a_cold_run_reports_its_phases_cpu_and_age(tmp_path: Path) -> None:
    dataset_id, env = cold_run_upload(tmp_path, TINY)
    env["MINI_LOG_FORMAT"] = "json"
    done = subprocess.run(
        [sys.executable, "-m", "processor", "run", "--dataset-id", dataset_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    last = json.loads(done.stdout.splitlines()[-1])
    assert last["outcome"] == "ready" and last["rows_out"] == 3
    timing = last["timing"]
    print(f"\ncold run, local store: {json.dumps(timing)}")
    assert list(timing["phases_s"]) == [
        "imports",
        "settings",
        "store",
        "check",
        "process",
        "publish",
    ]
    assert timing["phases_s"].keys() == timing["phases_cpu_s"].keys()
    # The process began before the package did; its age covers every phase.
    assert timing["age_s"] >= timing["since_import_s"] - 0.02
    assert timing["age_s"] >= sum(timing["phases_s"].values()) - 0.02
    assert timing["cpu_s"] > timing["phases_cpu_s"]["imports"] > 0
    # Reading the upload, the outputs, then the manifest last.
    assert timing["store_calls"]["open"] >= 1
    assert timing["store_calls"]["put_stream"] == 2  # data.parquet, report.json
    assert timing["store_calls"]["put_bytes"] == 1  # _result.json
    assert timing["gc_frozen"] > 10_000, "the imports' objects were frozen"


def test_importing_the_processor_leaves_the_collector_alone() -> None:
    code = "import gc, processor.__main__; print(gc.isenabled(), gc.get_freeze_count())"
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["True", "0"]
