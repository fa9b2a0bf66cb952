"""The one-screen summary `python -m processor process` prints (unless --quiet)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Past these, the summary says how many more there are (all are in report.json): the
# summary stays one screen for a file of 500 columns too.
MAX_COLUMNS = 20
MAX_DROPPED = 10


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def summary(report: dict[str, Any], source: Path, outdir: Path, seconds: float) -> str:
    """Rows in/out/rejected, detection, each column's type, warnings, time."""
    src = report.get("source") or {}
    header = src.get("header") or {}
    lines = [
        f"{source} -> {outdir / 'data.parquet'}",
        f"  rows      {report.get('rows_in', 0)} in, {report.get('rows_out', 0)} out, "
        f"{report.get('rows_rejected', 0)} rejected, "
        f"{report.get('duplicates_removed', 0)} duplicates and "
        f"{report.get('empty_rows_removed', 0)} empty rows removed",
        f"  detected  encoding {src.get('encoding')}, delimiter {src.get('delimiter')!r}, "
        + (f"header on line {header.get('line')}" if header.get("present") else "no header"),
        "  columns",
    ]
    used = report.get("transform")
    if isinstance(used, dict):
        # Before the columns: what is listed below is the transform's output.
        lines.insert(
            -1,
            f"  transform {used.get('name')} ({used.get('function')}, version "
            f"{used.get('version')}): {used.get('rows_in')} rows in, "
            f"{used.get('rows_removed')} removed",
        )
    columns = report.get("columns") or []
    width = max((len(str(c.get("name"))) for c in columns[:MAX_COLUMNS]), default=4)
    for col in columns[:MAX_COLUMNS]:
        extra = []
        if col.get("format"):
            extra.append(str(col["format"]))
        if col.get("null_count"):
            extra.append(f"{col['null_count']} null")
        note = f"  ({', '.join(extra)})" if extra else ""
        lines.append(f"    {col.get('name')!s:<{width}}  {col.get('type')}{note}")
    if len(columns) > MAX_COLUMNS:
        lines.append(f"    ... and {len(columns) - MAX_COLUMNS} more columns in report.json")
    dropped = report.get("columns_dropped") or []
    if dropped:
        more = f" and {len(dropped) - MAX_DROPPED} more" if len(dropped) > MAX_DROPPED else ""
        lines.append(f"  dropped   {', '.join(str(d) for d in dropped[:MAX_DROPPED])}{more}")
    warnings = report.get("warnings") or []
    if warnings:
        lines.append(f"  warnings  {len(warnings)}")
        for warning in warnings[:5]:
            text = warning if isinstance(warning, str) else warning.get("message", warning)
            lines.append(f"    - {text}")
        if len(warnings) > 5:
            lines.append(f"    ... and {len(warnings) - 5} more in report.json")
    rejects = report.get("rejects") or {}
    if rejects.get("count"):
        lines.append(f"  rejects   {rejects['count']} rows in {outdir / 'rejects.csv'}")
        for sample in (rejects.get("sample") or [])[:3]:
            lines.append(f"    line {sample.get('line')}: {sample.get('reason')}")
    size_out = (report.get("output") or {}).get("bytes") or 0
    size_in = (report.get("input") or {}).get("bytes") or 0
    lines.append(
        f"  size      {_size(int(size_in))} CSV -> {_size(int(size_out))} Parquet; "
        f"took {seconds:.2f} s; full report: {outdir / 'report.json'}"
    )
    return "\n".join(lines)
