"""What `python -m processor run` (a Kubernetes pod's command) loads before it exits:
its start is most of a small file's time, so what it must not load is checked here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from core import keys

from .conftest import cold_run_upload

ROOT = Path(__file__).resolve().parents[2]
TINY = b"id,name,amount,day,flag\n1,a,1.5,5 Mar 2024,yes\n2,b,2.5,1. M\xc3\xa4rz 2024,no\n"


def test_a_run_imports_neither_pandas_nor_the_catalog(tmp_path: Path) -> None:
    dataset_id, env = cold_run_upload(tmp_path, TINY)
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "processor", "run", "--dataset-id", dataset_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    imported = {
        line.rpartition("|")[2].strip()
        for line in done.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "processor.pipeline.process" in imported  # the listing is complete
    # pandas: pyarrow would import it at the first pa.array (processor.nopandas.without_pandas);
    # sqlalchemy: only a run that updates the catalog needs it. An import refused is
    # listed too, by its top name alone: one that happened brings its submodules.
    loaded = {m for m in imported if m.startswith(("pandas.", "sqlalchemy."))}
    assert not loaded, sorted(loaded)[:10]
    # The dates with month names (Latin-1 letters) were still read as dates.
    report = (tmp_path / "objects" / "processed" / keys.report_key(dataset_id)).read_text()
    assert '"date"' in report
