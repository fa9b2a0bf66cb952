"""Text the report quotes (min, max, top values) is cut and says so; the data is whole."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from processor.pipeline.process import process_csv
from processor.pipeline.report import QUOTED_TEXT_CHARS


def test_long_text_is_cut_in_the_report_only(tmp_path: Path) -> None:
    long_a = "A" * 5000
    long_b = "b" * 300
    src = tmp_path / "long.csv"
    rows = [f"{i},{long_a if i % 2 else long_b},short" for i in range(10)]
    src.write_text("id,essay,note\n" + "\n".join(rows) + "\n", encoding="utf-8")
    report = process_csv(lambda: src.open("rb"), tmp_path / "out")
    columns = {c["name"]: c for c in report["columns"]}
    essay = columns["essay"]
    assert essay["values_cut_at"] == QUOTED_TEXT_CHARS
    quoted = [essay["min"], essay["max"]] + [t["value"] for t in essay["top_values"]]
    assert all(len(q) == QUOTED_TEXT_CHARS + 1 and q.endswith("\u2026") for q in quoted)
    assert essay["min"].startswith("A") and essay["max"].startswith("b")
    assert sorted(t["count"] for t in essay["top_values"]) == [5, 5]
    # Short text is quoted whole, and nothing says it was cut.
    assert "values_cut_at" not in columns["note"]
    assert columns["note"]["min"] == "short"
    # The data keeps every character.
    served = pq.read_table(tmp_path / "out" / "data.parquet").column("essay").to_pylist()
    assert sorted(set(served)) == [long_a, long_b]
