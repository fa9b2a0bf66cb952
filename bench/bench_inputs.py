"""The inputs partners send (issue 16 §3): the same table as CSV, gzip, zip, xlsx,
ods, JSON and NDJSON through the processor, and a gzip bomb against the cap.

`make bench ARGS=bench_inputs`. Options (with `=`):

  --rows=N   rows of the table (default 300000)

Each file is processed by a process of its own (`process_csv`, as `processor run`
calls it), which reports its wall time and peak RSS; the ratio is against the plain
CSV. Workbooks are written by tests/workbooks.py (calamine only reads).
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.workbooks import Cell, ods, xlsx  # noqa: E402

MIB = 1024 * 1024
BOMB_BYTES = 4 * 1024 * MIB
BOMB_CAP = 64 * MIB

CHILD = """
import json, sys, time
from pathlib import Path
from processor.pipeline import BadInput, ProcessOptions, process_csv
src, out, cap = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
start = time.perf_counter()
try:
    report = process_csv(lambda: src.open("rb"), out, ProcessOptions(max_decompressed_bytes=cap))
    rows, error = report["rows_out"], None
except BadInput as exc:
    rows, error = 0, str(exc)
# VmHWM, not ru_maxrss: that one keeps the parent's size from before the exec.
hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:"))
print(json.dumps({"s": time.perf_counter() - start, "rows": rows, "error": error,
                  "rss": int(hwm.split()[1]) * 1024}))
"""


def table(rows: int) -> list[list[Cell]]:
    header: list[Cell] = ["id", "name", "amount", "day"]
    return [header] + [[i, f"name {i}", i * 1.5, dt.date(2024, 1, i % 28 + 1)] for i in range(rows)]


def csv_bytes(data: list[list[Cell]]) -> bytes:
    return "".join(",".join(str(c) for c in row) + "\n" for row in data).encode()


def records(data: list[list[Cell]]) -> list[dict[str, object]]:
    head = [str(h) for h in data[0]]
    return [
        {h: str(v) if isinstance(v, dt.date) else v for h, v in zip(head, row, strict=True)}
        for row in data[1:]
    ]


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return out.getvalue()


def bomb(path: Path) -> None:
    member = gzip.compress(b"1,2\n" * (16 * MIB), compresslevel=9)
    with path.open("wb") as fh:
        fh.write(gzip.compress(b"a,b\n"))
        for _ in range(BOMB_BYTES // (64 * MIB)):
            fh.write(member)


def run(src: Path, work: Path, cap: int) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(src), str(work / f"out-{src.name}"), str(cap)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="bench_inputs")
    parser.add_argument("--rows", type=int, default=300_000)
    args = parser.parse_args(argv)
    data = table(args.rows)
    plain = csv_bytes(data)
    files = {
        "csv": plain,
        "gzip": gzip.compress(plain),
        "zip": zipped("table.csv", plain),
        "xlsx": xlsx({"Table": data}),
        "ods": ods({"Table": data}),
        "json": json.dumps(records(data), indent=2).encode(),
        "ndjson": b"".join(json.dumps(r).encode() + b"\n" for r in records(data)),
    }
    del data
    with tempfile.TemporaryDirectory(prefix="bench-inputs-") as tmp:
        work = Path(tmp)
        print(f"{args.rows} rows, 4 columns; one process per file")
        print(f"{'input':8} {'file MB':>8} {'seconds':>8} {'k rows/s':>9} {'peak MiB':>9} vs csv")
        base = None
        for kind, content in files.items():
            src = work / f"table.{kind}"
            src.write_bytes(content)
            got = run(src, work, 20 * 1024 * MIB)
            seconds = float(str(got["s"]))
            base = base or seconds
            assert got["rows"] == args.rows, got
            print(
                f"{kind:8} {len(content) / 1e6:8.1f} {seconds:8.2f} "
                f"{args.rows / seconds / 1000:9.0f} {int(str(got['rss'])) / MIB:9.0f} "
                f"{seconds / base:6.1f}x"
            )
            src.unlink()
        src = work / "bomb.csv.gz"
        bomb(src)
        got = run(src, work, BOMB_CAP)
        print(
            f"gzip bomb: {BOMB_BYTES / 1024**3:.0f} GiB in {src.stat().st_size / 1e6:.1f} MB, cap "
            f"{BOMB_CAP // MIB} MiB: failed in {float(str(got['s'])):.2f} s, peak RSS "
            f"{int(str(got['rss'])) / MIB:.0f} MiB ({got['error']})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
