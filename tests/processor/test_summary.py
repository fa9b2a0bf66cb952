"""`python -m processor process` prints a one-screen summary, or nothing with --quiet."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SALES = ROOT / "examples" / "sales.csv"


def process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "processor", "process", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )


def test_the_summary_says_what_happened(tmp_path: Path) -> None:
    done = process(str(SALES), str(tmp_path))
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    lines = done.stdout.splitlines()
    assert len(lines) <= 40  # one screen
    text = done.stdout
    assert (
        f"{report['rows_in']} in, {report['rows_out']} out, {report['rows_rejected']} rejected"
        in text
    )
    for col in report["columns"]:
        assert any(line.split()[:2] == [col["name"], col["type"]] for line in lines), col
    assert f"warnings  {len(report['warnings'])}" in text
    first = report["rejects"]["sample"][0]
    assert f"line {first['line']}: {first['reason']}" in text  # the sample's rejected line
    assert "took " in text and str(tmp_path / "report.json") in text


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    done = process("--quiet", str(SALES), str(tmp_path))
    assert done.returncode == 0 and done.stdout == "" and done.stderr == ""
    assert (tmp_path / "data.parquet").exists()


def test_a_wide_file_still_fits_one_screen(tmp_path: Path) -> None:
    # 300 columns: the first 20 are listed, the rest counted (all are in report.json).
    names = [f"col_{i:03d}" for i in range(300)]
    wide = tmp_path / "wide.csv"
    rows = [",".join(names), *(",".join(str(r * 1000 + i) for i in range(300)) for r in range(3))]
    wide.write_text("\n".join(rows) + "\n")
    done = process(str(wide), str(tmp_path / "out"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) <= 40, done.stdout
    assert any(line.split()[:2] == ["col_019", "int"] for line in lines)
    assert not any(line.split()[:1] == ["col_020"] for line in lines)
    assert "... and 280 more columns in report.json" in done.stdout
