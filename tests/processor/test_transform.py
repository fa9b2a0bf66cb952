"""Operators' pandas transforms in the write pass (README: Your own pandas step): the
shipped examples, what a transform is given and must return, its failures, batches,
the report and the next version's comparison."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.settings import ProcessorSettings, Settings
from processor.pipeline import BadInput, process_csv
from processor.pipeline.options import Baseline
from processor.run import options_from
from processor.transforms import transform

ROOT = Path(__file__).resolve().parents[2]
ORDERS = ROOT / "examples" / "orders.csv"
HERE = "tests.processor.test_transform"
REGISTRY = {
    "line-total": "processor.transforms.examples:line_total",
    "country-codes": "processor.transforms.examples:country_codes",
    "drop-test-rows": "processor.transforms.examples:drop_test_rows",
    "seen": f"{HERE}:seen",
    "boom": f"{HERE}:boom",
    "undeclared": f"{HERE}:undeclared",
    "wrong-type": f"{HERE}:wrong_type",
    "missing": f"{HERE}:missing",
    "more-rows": f"{HERE}:more_rows",
    "not-declared": f"{HERE}:not_declared",
    "nowhere": "tests.processor.no_such_module:f",
    "to-text": f"{HERE}:to_text",
}
# What `seen` was given, batch by batch.
SEEN: list[dict[str, Any]] = []


@transform(version="7")
def seen(frame: pd.DataFrame) -> pd.DataFrame:
    SEEN.append(
        {
            "rows": len(frame),
            "dtypes": {c: str(t) for c, t in frame.dtypes.items()},
            "nulls": {c: int(frame[c].isna().sum()) for c in frame.columns},
            "first": frame.iloc[0].to_dict() if len(frame) else {},
            "index": list(frame.index),
        }
    )
    return frame


@transform(version="1")
def boom(frame: pd.DataFrame) -> pd.DataFrame:
    if (frame["n"] > 150).any():
        raise ValueError("n is too large for this step")
    return frame


@transform(version="1")
def undeclared(frame: pd.DataFrame) -> pd.DataFrame:
    frame["extra"] = 1
    return frame


@transform(version="1", add={"half": "int"})
def wrong_type(frame: pd.DataFrame) -> pd.DataFrame:
    frame["half"] = frame["n"] / 2  # floats, declared int
    return frame


@transform(version="1", add={"label": "string"})
def missing(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@transform(version="1")
def more_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([frame, frame])


def not_declared(frame: pd.DataFrame) -> pd.DataFrame:
    return frame


@transform(version="3", retype={"n": "string"}, drop=["note"])
def to_text(frame: pd.DataFrame) -> pd.DataFrame:
    frame["n"] = frame["n"].astype("string[pyarrow]")
    return frame.drop(columns=["note"])


def settings() -> Settings:
    return Settings(processor=ProcessorSettings(transforms=REGISTRY))


def run(source: Path, out: Path, transform: str | None, **raw: Any) -> dict[str, Any]:
    options = options_from({"transform": transform, **raw}, settings())
    return process_csv(lambda: source.open("rb"), out, options)


def rows(out: Path) -> list[dict[str, Any]]:
    return pq.read_table(out / "data.parquet").to_pylist()


def numbers(tmp_path: Path, count: int = 300) -> Path:
    path = tmp_path / "numbers.csv"
    lines = ["n,note,amount"] + [f"{i},row {i},{i}.5" for i in range(1, count + 1)]
    path.write_text("\n".join(lines) + "\n")
    return path


# --- the shipped examples ---------------------------------------------------------


def test_line_total_derives_a_column(tmp_path: Path) -> None:
    report = run(ORDERS, tmp_path, "line-total")
    got = {r["order_id"]: r["line_total"] for r in rows(tmp_path)}
    assert got[1001] == 39.8 and got[1003] == 21.75
    assert got[1004] is None  # quantity is null: null, not NaN
    served = {c["name"]: c for c in report["columns"]}
    assert served["line_total"]["type"] == "float"
    assert served["line_total"]["notes"] == ["added by the transform 'line-total'"]
    assert served["line_total"]["null_count"] == 1
    assert report["transform"]["columns_added"] == [
        {"column": "line_total", "type": "float", "arrow_type": "double"}
    ]
    assert "line_total" not in [c["name"] for c in report["transform"]["input_columns"]]
    assert pq.read_schema(tmp_path / "data.parquet").field("line_total").type == pa.float64()


def test_country_codes_normalise_codes(tmp_path: Path) -> None:
    report = run(ORDERS, tmp_path, "country-codes")
    got = [r["country"] for r in rows(tmp_path)]
    assert got == ["BR", "DE", "NO", "FR", "FR", "DE", "ITALIA"]
    assert report["transform"]["version"] == "2"
    assert report["transform"]["columns_added"] == []
    assert report["transform"]["columns_retyped"] == []
    top = {
        t["value"]
        for t in next(c for c in report["columns"] if c["name"] == "country")["top_values"]
    }
    assert top == {"BR", "DE", "NO", "FR", "ITALIA"}  # the served values' facts


def test_drop_test_rows_are_counted_and_named(tmp_path: Path) -> None:
    report = run(ORDERS, tmp_path, "drop-test-rows")
    assert [r["order_id"] for r in rows(tmp_path)] == [1001, 1003, 1004, 1006, 1007]
    used = report["transform"]
    assert (used["rows_in"], used["rows_out"], used["rows_removed"]) == (7, 5, 2)
    assert used["removed_lines"] == [3, 6]
    assert report["rows_out"] == 5 and report["rows_removed_by_transform"] == 2
    assert any("removed 2 row(s)" in w and "3, 6" in w for w in report["warnings"])
    assert report["options"]["transform"] == "drop-test-rows"


# --- what a transform is given ------------------------------------------------------


def test_a_batch_has_arrow_dtypes_nulls_and_exact_decimals(tmp_path: Path) -> None:
    source = tmp_path / "typed.csv"
    source.write_text(
        "id,price,at,day,ok,name\n"
        "1,0.12345678901234567,2024-01-02T03:04:05.123456Z,2024-01-02,true,a\n"
        "2,,2024-01-03T00:00:00Z,,false,\n"
    )
    SEEN.clear()
    run(source, tmp_path / "out", "seen")
    (batch,) = SEEN
    assert batch["dtypes"] == {
        "id": "int64[pyarrow]",
        "price": "decimal128(32, 17)[pyarrow]",
        "at": "timestamp[us, tz=UTC][pyarrow]",
        "day": "date32[day][pyarrow]",
        "ok": "bool[pyarrow]",
        "name": "string[pyarrow]",
    }
    assert batch["nulls"] == {"id": 0, "price": 1, "at": 0, "day": 1, "ok": 0, "name": 1}
    assert str(batch["first"]["price"]) == "0.12345678901234567"
    assert batch["first"]["at"].microsecond == 123456
    assert batch["index"] == [2, 3]  # each row's line in the file
    out = pq.read_table(tmp_path / "out" / "data.parquet")
    assert out.column("price").to_pylist()[0].as_tuple().digits[-1] == 7


def test_a_file_bigger_than_a_batch_reaches_it_in_batches(tmp_path: Path) -> None:
    source = numbers(tmp_path, 3000)
    SEEN.clear()
    options = options_from({"transform": "seen"}, settings())
    options = type(options)(**{**options.__dict__, "batch_bytes": 4096, "block_size": 4096})
    report = process_csv(lambda: source.open("rb"), tmp_path / "out", options)
    assert len(SEEN) > 5 and report["transform"]["batches"] == len(SEEN)
    assert sum(b["rows"] for b in SEEN) == 3000 == report["rows_out"]
    assert max(b["rows"] for b in SEEN) < 3000  # never the whole file


# --- failures -----------------------------------------------------------------------


def test_an_exception_fails_with_the_message_and_the_lines(tmp_path: Path) -> None:
    source = numbers(tmp_path)
    options = options_from({"transform": "boom"}, settings())
    options = type(options)(**{**options.__dict__, "batch_bytes": 1024, "block_size": 4096})
    with pytest.raises(BadInput) as caught:
        process_csv(lambda: source.open("rb"), tmp_path / "out", options)
    message = str(caught.value)
    assert "the transform 'boom'" in message and f"{HERE}:boom" in message
    assert "ValueError: n is too large for this step" in message
    assert "(at test_transform.py:" in message and "in boom)" in message
    # The batch holding line 152 (n = 151), not the whole file.
    start, end = (int(x) for x in message.split("on lines ")[1].split(" ")[0].split("-"))
    assert start <= 152 <= end and (start, end) != (2, 301)
    assert not (tmp_path / "out" / "data.parquet").exists()
    assert not list((tmp_path / "out").glob(".*partial"))


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("undeclared", "returned undeclared column(s) 'extra'"),
        (
            "wrong-type",
            "column 'half' is double (double[pyarrow]) but the transform declares it int64",
        ),
        ("missing", "did not return the declared column(s) 'label'"),
        ("more-rows", "returned 600 rows for 300; a transform may remove rows, not add them"),
    ],
)
def test_a_frame_off_its_declaration_fails_naming_the_column(
    tmp_path: Path, name: str, said: str
) -> None:
    with pytest.raises(BadInput, match="on lines 2-301") as caught:
        run(numbers(tmp_path), tmp_path / "out", name)
    assert said in str(caught.value)
    assert not (tmp_path / "out" / "data.parquet").exists()


def test_loading_fails_clearly(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="is not declared: decorate the function"):
        run(numbers(tmp_path), tmp_path / "o1", "not-declared")
    with pytest.raises(BadInput, match="cannot be loaded: ModuleNotFoundError"):
        run(numbers(tmp_path), tmp_path / "o2", "nowhere")
    with pytest.raises(BadInput, match=r"'gone' is not registered .*known: boom, country-codes"):
        run(numbers(tmp_path), tmp_path / "o3", "gone")
    with pytest.raises(BadInput, match="needs column\\(s\\) 'country', which this file"):
        run(numbers(tmp_path), tmp_path / "o4", "country-codes")


def test_retype_and_drop_are_reported(tmp_path: Path) -> None:
    report = run(numbers(tmp_path, 3), tmp_path, "to-text")
    assert rows(tmp_path)[0] == {"n": "1", "amount": 1.5}
    used = report["transform"]
    assert used["columns_removed"] == [{"column": "note", "type": "string", "arrow_type": "string"}]
    assert used["columns_retyped"] == [{"column": "n", "from": "int64", "to": "string"}]
    n = report["columns"][0]
    assert n["type"] == "string" and n["notes"] == [
        "int in the file; string from the transform 'to-text'"
    ]


# --- the next version ---------------------------------------------------------------


@pytest.mark.parametrize("policy", ["pin", "reject"])
def test_the_next_version_compares_the_files_columns(tmp_path: Path, policy: str) -> None:
    """A transform's added column is not "removed" from the next file, under pin or
    reject: versions are compared by what the transform was given."""
    first = run(ORDERS, tmp_path / "v1", "line-total")
    (tmp_path / "v1.json").write_text(json.dumps(first))
    baseline = {"id": None, "version": 1}

    def read(_id: str | None) -> Any:
        return first

    options = options_from(
        {"transform": "line-total", "on_schema_change": policy, "baseline": baseline},
        settings(),
        read,
    )
    second = process_csv(lambda: ORDERS.open("rb"), tmp_path / "v2", options)
    assert second["schema_change"]["changed"] is False
    assert [c["name"] for c in second["columns"]] == [c["name"] for c in first["columns"]]
    assert Baseline.from_report(first, 1).columns[-1].name == "ordered_on"


def test_a_run_with_a_transform_lets_pandas_in_and_one_without_does_not(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINI_")}
    env["MINI_PROCESSOR__TRANSFORMS"] = json.dumps(REGISTRY)
    done = subprocess.run(
        [sys.executable, "-m", "processor", "process", str(ORDERS), str(tmp_path / "a"),
         "--transform", "line-total", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "line_total" in pq.read_schema(tmp_path / "a" / "data.parquet").names
    done = subprocess.run(
        [sys.executable, "-m", "processor", "process", str(ORDERS), str(tmp_path / "b"),
         "--transform", "nope", "-q"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 2 and "'nope' is not registered" in done.stderr


def test_rows_add_up_with_dedupe_and_rejects_too(tmp_path: Path) -> None:
    source = tmp_path / "mixed.csv"
    text = ORDERS.read_text()
    # Line 9 repeats line 2 (removed by dedupe), line 10 has a field too many (rejected).
    source.write_text(text + text.splitlines()[1] + "\n1008,x@y.net,DE,1,1.00,2024-03-05,extra\n")
    lenient = Settings(max_reject_ratio=0.5, processor=ProcessorSettings(transforms=REGISTRY))
    options = options_from({"transform": "drop-test-rows", "dedupe": True}, lenient)
    report = process_csv(lambda: source.open("rb"), tmp_path / "out", options)
    assert report["rows_in"] == 9
    assert report["duplicates_removed"] == 1 and report["rows_rejected"] == 1
    assert report["rows_removed_by_transform"] == 2 and report["rows_out"] == 5
    assert report["transform"]["rows_in"] == 7


def test_the_summary_names_the_transform(tmp_path: Path) -> None:
    from processor.summary import summary

    report = run(ORDERS, tmp_path, "drop-test-rows")
    text = summary(report, ORDERS, tmp_path, 0.1)
    assert (
        "  transform drop-test-rows (processor.transforms.examples:drop_test_rows, version 1): "
        "7 rows in, 2 removed\n  columns" in text
    )


def test_changing_the_transform_is_said_not_refused(tmp_path: Path) -> None:
    first = run(ORDERS, tmp_path / "v1", "line-total")

    def read(_id: str | None) -> Any:
        return first

    raw = {"on_schema_change": "reject", "baseline": {"id": None, "version": 1}}
    options = options_from(raw, settings(), read)
    second = process_csv(lambda: ORDERS.open("rb"), tmp_path / "v2", options)
    assert second["schema_change"]["changed"] is False  # the file did not change
    assert second["transform_change"] == {
        "from": "line-total",
        "to": None,
        "columns_added": [],
        "columns_removed": ["line_total"],
    }
    assert (
        "version 1 was served through the transform 'line-total', this one through no "
        "transform: served columns removed line_total" in second["warnings"]
    )
