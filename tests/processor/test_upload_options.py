"""Issue 12, parts 1 and 2 on the processor side: nothing lost silently (suspected
unterminated quotes, multi-line values, input that is not CSV) and the per-upload
options (null_tokens, dedupe, decimal, date_order, types, skip_rows) through
``options_from`` and ``python -m processor process``."""

from __future__ import annotations

import csv
import datetime as dt
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core.settings import Settings
from core.sniff import text_format
from processor.__main__ import main
from processor.pipeline import BadInput, process_csv
from processor.pipeline.multiline import breaks_per_value
from processor.pipeline.options import DEFAULT_NULL_TOKENS
from processor.pipeline.reader import line_breaks_per_row
from processor.run import options_from

from .conftest import Result

Run = Callable[..., Result]


def run_with(tmp_path: Path, data: str, raw: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
    """Process ``data`` with upload options as stored with a version."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    src = tmp_path / "in.csv"
    src.write_text(data, encoding="utf-8")
    out = tmp_path / "out"
    report = process_csv(lambda: src.open("rb"), out, options_from(raw, Settings()))
    return report, pq.read_table(out / "data.parquet").to_pylist()


def column(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in report["columns"] if c["name"] == name)


# --- a quote that swallows records -------------------------------------------------------


def numbered(lo: int, hi: int) -> str:
    return "".join(f"{i},x{i}\n" for i in range(lo, hi))


def test_a_quote_that_swallows_records_is_rejected_with_its_line(run_csv: Run) -> None:
    # Line 1 header, lines 2-99 rows 1..98; line 100 opens a quote that the quote of
    # line 104 closes: pyarrow reads one valid row holding lines 101-103.
    data = "id,name\n" + numbered(1, 99) + '99,"unterminated,5\n'
    data += numbered(19, 22) + '22,x22"\n' + numbered(100, 200)
    res = run_csv(data)
    report = res.report
    assert report["rows_rejected"] == 1
    reject = report["rejects"]["sample"][0]
    assert reject["line"] == 100
    assert reject["reason"] == "suspected unterminated quote"
    assert "3 whole line(s) that each read as a complete record of 2 fields" in reject["detail"]
    assert "'19,x19'" in reject["detail"]
    with (res.out_dir / "rejects.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["line"] == "100" and rows[0]["reason"] == "suspected unterminated quote"
    assert "19,x19\n20,x20\n21,x21" in rows[0]["raw"]
    # Nothing merged silently: the row is not in the data, every other one is.
    ids = res.column("id")
    assert 99 not in ids and ids == [*range(1, 99), *range(100, 200)]
    assert report["multiline"] == {
        "rows": 1,
        "values": 1,
        "first_lines": [100],
        "suspected_unterminated_quotes": 1,
    }
    # The lines it took count as rows lost (4 of them, within the 10% allowed).
    assert report["rows_in"] == report["rows_out"] + report["rows_rejected"]


def test_swallowed_records_beyond_the_limit_fail_the_file(tmp_path: Path) -> None:
    data = "id,name\n" + numbered(1, 20) + '99,"unterminated,5\n' + numbered(19, 25) + '25,x"\n'
    src = tmp_path / "in.csv"
    src.write_text(data)
    with pytest.raises(BadInput, match="suspected unterminated quote: 1"):
        process_csv(lambda: src.open("rb"), tmp_path / "out")


def test_multi_line_values_are_kept_and_counted(run_csv: Run) -> None:
    """An address over three lines is a value, not swallowed records: its inner line
    does not read as a record of the table (3 fields)."""
    data = (
        "name,address,city\n"
        'Ana,"Rua A, 10\nApto 3\nCentro",Recife\n'
        "Bia,Rua B,Natal\n"
        'Caio,"Av. C\nBloco 2",Olinda\n'
    )
    res = run_csv(data)
    assert res.report["rows_rejected"] == 0
    assert res.column("address")[0] == "Rua A, 10\nApto 3\nCentro"
    assert res.report["multiline"] == {
        "rows": 2,
        "values": 2,
        "first_lines": [2, 6],
        "suspected_unterminated_quotes": 0,
    }


# --- input that is not CSV -----------------------------------------------------------------

# JSON arrays of objects and NDJSON are read (tests/processor/test_inputs.py).
NOT_CSV = {
    "a JSON object": '{\n  "rows": [\n    {"a": 1, "b": "x"}\n  ]\n}\n',
    "XML": '<?xml version="1.0"?>\n<rows><row a="1" b="x"/></rows>\n',
    "HTML": "<!DOCTYPE html>\n<html><body><table><tr><td>1</td></tr></table></body></html>\n",
}


@pytest.mark.parametrize("kind", list(NOT_CSV))
def test_input_that_is_not_csv_fails_naming_what_it_is(kind: str, tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text(NOT_CSV[kind])
    with pytest.raises(BadInput, match=f"this file is {kind.split(' (')[0]}"):
        process_csv(lambda: src.open("rb"), tmp_path / "out")
    assert not (tmp_path / "out" / "data.parquet").exists()


def test_a_long_json_array_is_told_from_its_start() -> None:
    rows = ",\n".join(json.dumps({"id": i, "name": f"n{i}"}) for i in range(2000))
    assert text_format("[\n" + rows + "\n]")[:4000] == "a JSON array"  # type: ignore[index]
    assert text_format(("[\n" + rows)[:1024]) == "a JSON array"


@pytest.mark.parametrize(
    "data",
    [
        "[id],[name]\n1,x\n",  # SQL Server's bracketed headers
        "<5 years,5-10 years\n1,2\n",
        "{a},{b}\n1,2\n",
        "a,b\n1,2\n",
    ],
)
def test_csv_that_starts_like_json_or_markup_is_still_csv(data: str, run_csv: Run) -> None:
    assert text_format(data) is None
    assert len(run_csv(data).rows) == 1


# --- options ------------------------------------------------------------------------------


def test_null_tokens_are_added_to_the_defaults_or_replace_them(tmp_path: Path) -> None:
    data = "a,b\n1,k.A.\n2,n/d\n3,NA\n4,5\n"
    added = options_from({"null_tokens": ["k.A.", "n/d"]}, Settings())
    assert added.null_tokens == (*DEFAULT_NULL_TOKENS, "k.A.", "n/d")
    report, rows = run_with(tmp_path / "add", data, {"null_tokens": ["k.A.", "n/d"]})
    assert [r["b"] for r in rows] == [None, None, None, 5]
    assert column(report, "b")["type"] == "int"
    assert report["options"]["null_tokens"][-2:] == ["k.A.", "n/d"]
    raw = {"null_tokens": ["k.A.", "n/d"], "null_tokens_replace": True}
    assert options_from(raw, Settings()).null_tokens == ("", "k.A.", "n/d")
    report, rows = run_with(tmp_path / "replace", data, raw)
    assert [r["b"] for r in rows] == [None, None, "NA", "5"]  # NA is a value now
    assert report["options"]["null_tokens"] == ["", "k.A.", "n/d"]


def test_dedupe_option_removes_duplicates(tmp_path: Path) -> None:
    data = "a,b\n1,x\n1,x\n2,y\n"
    report, rows = run_with(tmp_path / "keep", data, {})
    assert len(rows) == 3 and report["duplicates"]["count"] == 1
    report, rows = run_with(tmp_path / "dedupe", data, {"dedupe": True})
    assert len(rows) == 2 and report["duplicates_removed"] == 1
    assert report["options"]["dedupe"] is True


def test_decimal_option(tmp_path: Path) -> None:
    # "1.500" is 1.5 to inference; with decimal="," it is one thousand five hundred.
    data = 'a,b\n1.500,"1,234"\n2.250,"2,5"\n'
    report, rows = run_with(tmp_path / "detected", data, {})
    assert [r["a"] for r in rows] == [1.5, 2.25]
    report, rows = run_with(tmp_path / "comma", data, {"decimal": ","})
    assert [r["a"] for r in rows] == [1500, 2250]
    assert [r["b"] for r in rows] == [1.234, 2.5]
    assert report["options"]["decimal"] == ","
    # A column written with "," as the mark stays text when the user says ".".
    report, rows = run_with(tmp_path / "dot", 'a\n"1,5"\n"2,25"\n', {"decimal": "."})
    assert column(report, "a")["type"] == "string"
    assert "decimal='.'" in column(report, "a")["notes"][0]


def test_date_order_settles_ambiguous_dates(tmp_path: Path) -> None:
    data = "d\n01/02/2024\n03/04/2024\n"
    report, _ = run_with(tmp_path / "detected", data, {})
    assert column(report, "d")["type"] == "string"  # no day above 12: ambiguous
    report, rows = run_with(tmp_path / "dmy", data, {"date_order": "dmy"})
    assert [r["d"] for r in rows] == [dt.date(2024, 2, 1), dt.date(2024, 4, 3)]
    report, rows = run_with(tmp_path / "mdy", data, {"date_order": "mdy"})
    assert [r["d"] for r in rows] == [dt.date(2024, 1, 2), dt.date(2024, 3, 4)]
    # Evidence against the order asked for: text, with a note.
    report, _ = run_with(tmp_path / "wrong", "d\n25/12/2024\n", {"date_order": "mdy"})
    assert column(report, "d")["type"] == "string"
    assert "date_order" in column(report, "d")["notes"][0]


def test_types_override_columns(tmp_path: Path) -> None:
    data = "cep,betrag,Größe (cm),n\n01310100,10.5,3,1\n22041001,7.25,4,x\n"
    raw = {"types": {"cep": "string", "betrag": "decimal", "Größe (cm)": "float"}}
    report, rows = run_with(tmp_path, data, raw)
    assert [r["cep"] for r in rows] == ["01310100", "22041001"]
    assert column(report, "betrag")["type"] == "decimal"
    assert str(rows[0]["betrag"]) == "10.50"
    assert column(report, "größe_cm")["type"] == "float" and rows[0]["größe_cm"] == 3.0
    assert "as the types option asks" in column(report, "cep")["notes"][0]
    assert report["options"]["types"] == raw["types"]


def test_a_forced_type_rejects_the_rows_that_do_not_fit(tmp_path: Path) -> None:
    data = "id,n\n" + "".join(f"{i},{i}\n" for i in range(1, 30)) + "30,x\n"
    report, rows = run_with(tmp_path, data, {"types": {"n": "int"}})
    assert column(report, "n")["type"] == "int"
    assert len(rows) == 29 and report["rows_rejected"] == 1
    reject = report["rejects"]["sample"][0]
    assert reject["line"] == 31
    assert reject["reason"] == "'x' is not an int as the types option asks (n:int)"


def test_types_naming_an_unknown_column_fail_the_version(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"types names column\(s\) this file does not have: 'nope'"):
        run_with(tmp_path, "a,b\n1,2\n", {"types": {"nope": "int"}})


def test_types_with_an_unknown_type_are_refused() -> None:
    with pytest.raises(BadInput, match="unknown type 'money' for column 'a'"):
        options_from({"types": {"a": "money"}}, Settings())
    with pytest.raises(BadInput, match="unknown type 'money'"):
        options_from({"types": "a:money"}, Settings())


def test_skip_rows(tmp_path: Path) -> None:
    data = "Report of 2024\nproduced by x;y;z\na,b\n1,2\n"
    report, rows = run_with(tmp_path, data, {"skip_rows": 2})
    assert rows == [{"a": 1, "b": 2}]
    assert (report["options"]["header_row"], report["options"]["skip_rows"]) == (3, 2)


def test_the_command_line_takes_the_options(tmp_path: Path, capsys: Any) -> None:
    src = tmp_path / "in.csv"
    row = "01310100;1.500;01/02/2024\n"
    src.write_text("title line\ncep;valor;d\n" + row + row)
    out = tmp_path / "out"
    code = main(
        [
            "process",
            str(src),
            str(out),
            "--skip-rows",
            "1",
            "--dedupe",
            "--decimal",
            ",",
            "--date-order",
            "dmy",
            "--types",
            "cep:text",
            "--null-tokens",
            "k.A.,n/d",
        ]
    )
    assert code == 0
    report = json.loads((out / "report.json").read_text())
    assert report["options"]["dedupe"] is True and report["duplicates_removed"] == 1
    assert pq.read_table(out / "data.parquet").to_pylist() == [
        {"cep": "01310100", "valor": 1500, "d": dt.date(2024, 2, 1)}
    ]
    assert report["options"]["null_tokens"][-2:] == ["k.A.", "n/d"]
    assert main(["process", str(src), str(out), "--types", "cep:money"]) == 2
    assert "unknown type 'money' for column 'cep'" in capsys.readouterr().err


def test_breaks_per_value_matches_the_whole_array_count() -> None:
    """The find-based count of line breaks per value (multi-line scan) against the
    numpy rendering the line numbers used: CR, LF, CRLF, nulls, sliced arrays."""
    rng = random.Random(1)
    for _ in range(300):
        values = [
            None if rng.random() < 0.1 else "".join(rng.choice("ab\r\n,") for _ in range(6))
            for _ in range(rng.randint(1, 30))
        ]
        start = rng.randint(0, len(values) - 1)
        array = pa.array(values, pa.string()).slice(start, rng.randint(0, len(values) - start))
        got = breaks_per_value(array)
        want = line_breaks_per_row([array], len(array))
        assert (np.zeros(len(array), dtype=np.int64) if got is None else got).tolist() == (
            want.tolist()
        )
