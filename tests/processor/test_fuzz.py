"""Robustness: random bytes and CSV-like text through `python -m processor process`.

Every input must end in exit 0 (data.parquet and report.json written) or exit 2 with a
single "error: ..." line on stderr: never a traceback, never a hang. The CLI runs as a
real subprocess with a timeout for a few examples per strategy; many more run through
the same entry point in-process (processor.__main__.main), where a timer catches a hang.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pyarrow.parquet as pq
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from processor.__main__ import main

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT_S = 60
IN_PROCESS_LIMIT_S = 20

CELLS = st.one_of(
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "",
            "NA",
            "null",
            "-",
            "sim",
            "não",
            "TRUE",
            "0",
            "007",
            "01310-100",
            "1.234,56",
            "1,234.56",
            "12,5%",
            "3.5%",
            "31/12/2023",
            "12/31/2023",
            "2023-01-31",
            "2023-01-31T10:00:00Z",
            "2023-01-31 10:00:00-03:00",
            '"',
            '""',
            '"quoted, comma"',
            '"multi\nline"',
            "a\tb",
            "x;y",
            "p|q",
            "  padded  ",
            "\u00a0nbsp\u00a0",
            "ção",
            "日本語",
            "emoji 🎉",
            "\r",
            "\\",
        ]
    ),
    st.text(max_size=12),
)


@st.composite
def csv_like(draw: st.DrawFn) -> bytes:
    """Rows of plausible and hostile cells, with a random delimiter, line ending and
    encoding; sometimes a title line, a ragged row or an unterminated quote."""
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", "  "]))
    ending = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    width = draw(st.integers(1, 6))
    rows = draw(
        st.lists(
            st.lists(CELLS, min_size=max(1, width - 1), max_size=width + 1),
            min_size=0,
            max_size=25,
        )
    )
    lines = [delimiter.join(r) for r in rows]
    if draw(st.booleans()):
        lines.insert(0, "Relatório de vendas")
    if lines and draw(st.integers(0, 9)) == 0:
        lines[-1] += ',"never closed'
    text = ending.join(lines) + draw(st.sampled_from(["", ending]))
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "utf-16-le"]))
    return text.encode(encoding, errors="replace")


INPUTS = st.one_of(st.binary(max_size=3000), csv_like())


def check_outcome(code: int, stderr: str, out: Path) -> None:
    assert "Traceback" not in stderr, stderr
    assert code in (0, 2), (code, stderr)
    if code == 2:
        lines = stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and len(lines[0]) > 8, stderr
        return
    report = json.loads((out / "report.json").read_text())
    assert pq.read_metadata(out / "data.parquet").num_rows == report["rows_out"]


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    def expired(signum: int, frame: FrameType | None) -> None:
        raise TimeoutError(f"processing took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=INPUTS)
def test_entry_point_in_process(data: bytes, tmp_path: Path) -> None:
    source = tmp_path / "input.csv"
    out = tmp_path / f"out-{abs(hash(data))}"
    source.write_bytes(data)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), time_limit(IN_PROCESS_LIMIT_S):
        code = main(["process", str(source), str(out)])
    check_outcome(code, stderr.getvalue(), out)


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=INPUTS)
def test_cli_subprocess(data: bytes, tmp_path: Path) -> None:
    source = tmp_path / "input.csv"
    out = tmp_path / f"out-{abs(hash(data))}"
    source.write_bytes(data)
    done = subprocess.run(
        [sys.executable, "-m", "processor", "process", str(source), str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    check_outcome(done.returncode, done.stderr, out)


def test_cli_field_over_the_limit_fails_clearly(tmp_path: Path) -> None:
    source = tmp_path / "big.csv"
    source.write_text("a,b\n1," + "x" * 5000 + "\n2,y\n")
    done = subprocess.run(
        [sys.executable, "-m", "processor", "process", str(source), str(tmp_path / "out")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
        env={**os.environ, "MINI_MAX_FIELD_BYTES": "1000"},
    )
    assert done.returncode == 2
    assert done.stderr == (
        "error: column 'b' has a value of 5000 bytes on line 2; the limit is 1000 bytes "
        "(MINI_MAX_FIELD_BYTES)\n"
    )


def test_cli_overrides(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_bytes("título\n1;2\nção;4\n".encode("latin-1"))
    out = tmp_path / "out"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "processor",
            "process",
            str(source),
            str(out),
            "--encoding",
            "latin-1",
            "--delimiter",
            "semicolon",
            "--header-row",
            "2",
            "--no-header",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads((out / "report.json").read_text())
    assert report["source"]["encoding"] == "iso8859-1"
    assert report["source"]["delimiter"] == ";"
    assert report["source"]["header"]["present"] is False
    rows = pq.read_table(out / "data.parquet").to_pylist()
    assert rows == [{"column_1": "1", "column_2": 2}, {"column_1": "ção", "column_2": 4}]


def test_cli_bad_override_is_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("a,b\n1,2\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "processor",
            "process",
            str(source),
            str(tmp_path / "o"),
            "--encoding",
            "klingon",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert (done.returncode, done.stderr) == (2, "error: unknown encoding 'klingon'\n")
