"""Schema drift: each version compared with the version served before it (issue 11).

Real process runs on small files: version 1 is processed, its report.json is the
baseline of version 2, and the policy (pin, reject, allow) decides what version 2 is.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from core import keys
from core.settings import Settings
from core.storage.factory import make_store
from processor.pipeline import BadInput, ProcessOptions, process_csv
from processor.pipeline.infer import ColumnStats, ColumnType, Kind, accumulate, copy_stats
from processor.pipeline.options import DEFAULT_NULL_TOKENS, Baseline, BaselineColumn
from processor.pipeline.reader import BatchLines
from processor.pipeline.schema_change import NewColumn, baseline_type, describe, diff
from processor.run import options_from, run_dataset

ROOT = Path(__file__).resolve().parents[2]
V1_ID = "0123456789abcdef0123456789abcdef"


# --- helpers ---------------------------------------------------------------------------


class Versions:
    """Files processed one after the other, in folders of their own."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.n = 0

    def run(self, text: str, **options: Any) -> tuple[dict[str, Any], Path]:
        self.n += 1
        src = self.tmp / f"v{self.n}.csv"
        src.write_text(text, encoding="utf-8")
        out = self.tmp / f"out{self.n}"
        report = process_csv(lambda: src.open("rb"), out, ProcessOptions(**options))
        assert json.loads((out / "report.json").read_text()) == report
        assert report["rows_in"] == (
            report["rows_out"]
            + report["rows_rejected"]
            + report["duplicates_removed"]
            + report["empty_rows_removed"]
            + report["note_rows_skipped"]
        )
        return report, out

    def fails(self, text: str, **options: Any) -> tuple[BadInput, Path]:
        with pytest.raises(BadInput) as caught:
            self.run(text, **options)
        return caught.value, self.tmp / f"out{self.n}"


@pytest.fixture
def versions(tmp_path: Path) -> Versions:
    return Versions(tmp_path)


def baseline(report: dict[str, Any], version: int = 1, id: str | None = V1_ID) -> Baseline:
    return Baseline.from_report(report, version, id)


def column(report: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(next(c for c in report["columns"] if c["name"] == name))


def rows(out: Path) -> list[dict[str, Any]]:
    return list(pq.read_table(out / "data.parquet").to_pylist())


def rejects(out: Path) -> list[dict[str, str]]:
    with (out / "rejects.csv").open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# Version 1 of the "euro" dataset: German numbers, ';'-separated.
EURO_V1 = (
    "Datum;Betrag;Menge\n"
    "01.02.2024;1.234,56;3\n"
    "15.02.2024;608,17;5\n"
    "20.03.2024;12.000,00;7\n"
    "21.03.2024;5.001,10;2\n"
)
EURO_ROWS = [
    ("13.04.2024", "2.345,67", "Nord"),
    ("14.04.2024", "8.100,00", "Süd"),
    ("15.04.2024", "608,17", "West"),
    ("16.04.2024", "7.000,00", "Ost"),
    ("17.04.2024", "k.A.", "Nord"),  # line 6
    ("18.04.2024", "99,90", "Süd"),
    ("19.04.2024", "1.000,01", "West"),
    ("20.04.2024", "12,50", "Ost"),
    ("21.04.2024", "3.333,33", "Nord"),
    ("22.04.2024", "41,00", "Süd"),
    ("23.04.2024", "5.500,55", "West"),
    ("24.04.2024", "610,00", "Ost"),
]
# Version 2 drops 'menge', adds 'region', and has one 'k.A.' in 'betrag' (line 6).
EURO_V2 = "Datum;Betrag;Region\n" + "".join(f"{d};{b};{r}\n" for d, b, r in EURO_ROWS)
# The same, but 'menge' is still there, with no value at all.
EURO_V2_EMPTY_MENGE = "Datum;Betrag;Menge;Region\n" + "".join(
    f"{d};{b};;{r}\n" for d, b, r in EURO_ROWS
)


@pytest.fixture
def euro_v1(versions: Versions) -> dict[str, Any]:
    report, _ = versions.run(EURO_V1)
    assert [(c["name"], c["type"]) for c in report["columns"]] == [
        ("datum", "date"),
        ("betrag", "float"),
        ("menge", "int"),
    ]
    return report


# --- the euro case under each policy ----------------------------------------------------


def test_pin_fails_when_a_served_column_is_missing(
    versions: Versions, euro_v1: dict[str, Any]
) -> None:
    exc, out = versions.fails(EURO_V2, baseline=baseline(euro_v1))
    assert str(exc).startswith(
        "column 'menge' of version 1 is missing from this file; the dataset keeps the columns "
        "of the version it serves (on_schema_change=pin)"
    )
    assert not (out / "data.parquet").exists()
    assert exc.schema_change is not None
    assert exc.schema_change["removed"] == [{"column": "menge", "type": "int"}]
    assert exc.schema_change["policy"] == "pin"
    assert exc.schema_change["baseline"] == {"id": V1_ID, "version": 1}


def test_pin_keeps_the_served_types_and_rejects_what_does_not_fit(
    versions: Versions, euro_v1: dict[str, Any]
) -> None:
    report, out = versions.run(EURO_V2_EMPTY_MENGE, baseline=baseline(euro_v1))
    # 'betrag' stays a float: the 'k.A.' row is rejected, not the column turned into text.
    assert column(report, "betrag")["type"] == "float"
    assert column(report, "betrag")["arrow_type"] == "double"
    data = rows(out)
    assert [r["betrag"] for r in data] == [
        2345.67, 8100.0, 608.17, 7000.0, 99.9, 1000.01, 12.5, 3333.33, 41.0, 5500.55, 610.0,
    ]  # fmt: skip
    assert pq.read_schema(out / "data.parquet").field("betrag").type == pa.float64()
    # 'menge' has no value in this file: kept, all null, with the type of version 1.
    assert column(report, "menge")["type"] == "int"
    assert [r["menge"] for r in data] == [None] * 11
    assert report["columns_dropped"] == []
    # 'region' is new and added as inferred.
    assert column(report, "region")["type"] == "string"
    assert [c["name"] for c in report["columns"]] == ["datum", "betrag", "menge", "region"]

    assert rejects(out) == [
        {
            "line": "6",
            "reason": "'k.A.' is not a float as in version 1",
            "detail": "column 'betrag': 'k.A.' is not a float as in version 1 "
            "(on_schema_change=pin keeps the served types)",
            "raw": "17.04.2024;k.A.;;Nord",
        }
    ]
    assert report["rows_rejected"] == 1
    assert report["rejects"]["sample"][0]["line"] == 6
    assert report["steps"]["reject"]["by_reason"] == {
        "column 'betrag' is not a float as in version 1": 1
    }

    change = report["schema_change"]
    assert change["baseline"] == {"id": V1_ID, "version": 1}
    assert change["policy"] == "pin"
    assert change["changed"] is True
    assert change["added"] == [{"column": "region", "type": "string"}]
    assert change["removed"] == []
    assert change["type_changed"] == [
        {
            "column": "betrag",
            "from": "float",
            "to": "string",
            "from_arrow_type": "double",
            "to_arrow_type": "string",
            "widened": False,
            "counterexamples": [{"line": 6, "value": "k.A."}],
            "served": "float",
            "served_arrow_type": "double",
        }
    ]
    assert change["nullability"] == [
        {"column": "menge", "from": "not null", "to": "nullable", "null_count": 11}
    ]
    assert change["rejected"] == {"betrag": 1}
    assert report["options"] == {
        "encoding": None,
        "delimiter": None,
        "header_row": None,
        "no_header": False,
        "skip_rows": None,
        "on_schema_change": "pin",
        "baseline": {"id": V1_ID, "version": 1},
        "null_tokens": list(DEFAULT_NULL_TOKENS),
        "dedupe": False,
        "decimal": None,
        "date_order": None,
        "types": None,
        "transform": None,
    }
    assert any("kept float" in w for w in report["warnings"])
    assert "kept as float, its type in version 1" in column(report, "betrag")["notes"][0]


def test_reject_fails_and_lists_the_diff(versions: Versions, euro_v1: dict[str, Any]) -> None:
    exc, out = versions.fails(EURO_V2, baseline=baseline(euro_v1), on_schema_change="reject")
    assert str(exc) == (
        "the columns differ from version 1, and this dataset rejects schema changes "
        "(on_schema_change=reject): added 'region' (string); removed 'menge' (int); "
        "'betrag' changed from float to string by 'k.A.' on line 6; version 1 stays served"
    )
    assert not (out / "data.parquet").exists()
    assert exc.schema_change is not None
    assert exc.schema_change["policy"] == "reject"
    assert exc.schema_change["changed"] is True


def test_reject_accepts_a_version_with_the_same_columns(
    versions: Versions, euro_v1: dict[str, Any]
) -> None:
    same = "Datum;Betrag;Menge\n13.05.2024;7,00;1\n14.05.2024;1.000,00;\n"
    report, _ = versions.run(same, baseline=baseline(euro_v1), on_schema_change="reject")
    change = report["schema_change"]
    assert change["changed"] is False
    assert change["nullability"] == [
        {"column": "menge", "from": "not null", "to": "nullable", "null_count": 1}
    ]
    assert "rejected" not in change


def test_allow_serves_the_new_schema_and_records_the_diff(
    versions: Versions, euro_v1: dict[str, Any]
) -> None:
    report, out = versions.run(EURO_V2, baseline=baseline(euro_v1), on_schema_change="allow")
    assert column(report, "betrag")["type"] == "string"
    assert [r["betrag"] for r in rows(out)][4] == "k.A."
    assert report["rows_rejected"] == 0
    change = report["schema_change"]
    assert change["policy"] == "allow"
    assert change["added"] == [{"column": "region", "type": "string"}]
    assert change["removed"] == [{"column": "menge", "type": "int"}]
    [betrag] = change["type_changed"]
    assert (betrag["column"], betrag["from"], betrag["to"]) == ("betrag", "float", "string")
    assert betrag["counterexamples"] == [{"line": 6, "value": "k.A."}]
    assert betrag["served"] == "string"
    assert "rejected" not in change


# --- widening and narrowing under pin ------------------------------------------------------


def test_int_widens_to_float_under_pin(versions: Versions) -> None:
    v1, _ = versions.run("id,preis\n1,10\n2,20\n3,30\n")
    report, out = versions.run("id,preis\n4,10.5\n5,20\n6,1e3\n", baseline=baseline(v1))
    assert column(report, "preis")["type"] == "float"
    assert [r["preis"] for r in rows(out)] == [10.5, 20.0, 1000.0]
    [change] = report["schema_change"]["type_changed"]
    assert change["from"] == "int" and change["to"] == "float"
    assert change["widened"] is True
    assert change["served"] == "float"
    assert change["counterexamples"] == [{"line": 2, "value": "10.5"}, {"line": 4, "value": "1e3"}]
    assert report["rows_rejected"] == 0
    assert "widened from int in version 1 to float" in column(report, "preis")["notes"]


def test_widening_and_a_misfit_together(versions: Versions) -> None:
    """v1 int; v2 has decimals and one 'x': the column widens to float and the 'x' row is
    rejected, its reason naming both types."""
    v1, _ = versions.run("id,preis\n1,10\n2,20\n")
    body = "".join(f"{i},{i}.5\n" for i in range(3, 23))
    report, out = versions.run("id,preis\n" + body + "23,x\n", baseline=baseline(v1))
    assert column(report, "preis")["type"] == "float"
    assert [(r["line"], r["reason"]) for r in rejects(out)] == [
        ("22", "'x' is not a float (version 1's int, widened)")
    ]
    [change] = report["schema_change"]["type_changed"]
    assert (change["from"], change["to"], change["served"]) == ("int", "string", "float")
    assert change["counterexamples"] == [{"line": 22, "value": "x"}]


def test_float_baseline_keeps_float_for_an_int_file(versions: Versions) -> None:
    v1, _ = versions.run("id,preis\n1,10.5\n2,20.25\n")
    report, out = versions.run('id,preis\n3,10\n4,"1,234"\n5,7\n', baseline=baseline(v1))
    assert column(report, "preis")["type"] == "float"
    assert pq.read_schema(out / "data.parquet").field("preis").type == pa.float64()
    assert [r["preis"] for r in rows(out)] == [10.0, 1234.0, 7.0]
    [change] = report["schema_change"]["type_changed"]
    assert (change["from"], change["to"], change["served"]) == ("float", "int", "float")
    assert change["widened"] is False
    assert report["rows_rejected"] == 0


def test_date_widens_to_timestamp_and_a_timestamp_takes_dates(versions: Versions) -> None:
    v1, _ = versions.run("id,quando\n1,2024-01-01\n2,2024-01-02\n")
    report, _ = versions.run("id,quando\n3,2024-02-01 10:30\n4,2024-02-02\n", baseline=baseline(v1))
    assert column(report, "quando")["type"] == "timestamp"
    assert report["schema_change"]["type_changed"][0]["widened"] is True
    v3, out3 = versions.run("id,quando\n5,2024-03-01\n", baseline=baseline(report, 2))
    assert column(v3, "quando")["type"] == "timestamp"
    assert str(rows(out3)[0]["quando"]) == "2024-03-01 00:00:00"


def test_a_text_baseline_keeps_numbers_as_text(versions: Versions) -> None:
    v1, _ = versions.run("id,code\n1,A7\n2,B8\n")
    report, out = versions.run("id,code\n3,007\n4,1234\n", baseline=baseline(v1))
    assert column(report, "code")["type"] == "string"
    assert [r["code"] for r in rows(out)] == ["007", "1234"]
    report, out = versions.run("id,code\n3,17\n4,1234\n", baseline=baseline(v1))
    assert column(report, "code")["type"] == "string"
    assert [r["code"] for r in rows(out)] == ["17", "1234"]
    assert report["schema_change"]["type_changed"][0]["served"] == "string"


def test_bool_baseline_reads_zeros_and_ones(versions: Versions) -> None:
    v1, _ = versions.run("id,ativo\n1,sim\n2,não\n3,sim\n")
    assert column(v1, "ativo")["type"] == "bool"
    report, out = versions.run("id,ativo\n4,1\n5,0\n6,x\n" + "".join(
        f"{i},1\n" for i in range(7, 20)
    ), baseline=baseline(v1))  # fmt: skip
    assert column(report, "ativo")["type"] == "bool"
    assert [r["ativo"] for r in rows(out)][:2] == [True, False]
    assert [(r["line"], r["reason"]) for r in rejects(out)] == [
        ("4", "'x' is not a bool as in version 1")
    ]


def test_dates_that_do_not_tell_day_from_month_are_read_as_before(versions: Versions) -> None:
    v1, _ = versions.run(EURO_V1)
    v2 = "Datum;Betrag;Menge\n01.04.2024;1,00;1\n02.04.2024;2,00;2\n"
    report, out = versions.run(v2, baseline=baseline(v1))
    # On its own, 01.04.2024 could be 4 January: text; version 1 settled day-first.
    assert column(report, "datum")["type"] == "date"
    assert [str(r["datum"]) for r in rows(out)] == ["2024-04-01", "2024-04-02"]
    [change] = report["schema_change"]["type_changed"]
    assert (change["column"], change["to"], change["served"]) == ("datum", "string", "date")
    report, out = versions.run(v2, baseline=baseline(v1), on_schema_change="allow")
    assert column(report, "datum")["type"] == "string"


def test_a_new_number_format_is_read_with_the_files_own(versions: Versions) -> None:
    """v1 writes 1.234,56; v2 writes 1234.56 and has a 'n/d': read as plain floats, and
    only the 'n/d' row is rejected."""
    v1, _ = versions.run(EURO_V1)
    body = "".join(f"0{i % 9 + 1}.05.2024;{i}.5;{i}\n" for i in range(1, 15))
    report, out = versions.run(
        "Datum;Betrag;Menge\n" + body + "20.05.2024;n.v.;1\n", baseline=baseline(v1)
    )
    assert column(report, "betrag")["type"] == "float"
    assert [r["betrag"] for r in rows(out)] == [i + 0.5 for i in range(1, 15)]
    assert [r["line"] for r in rejects(out)] == ["16"]


def test_a_fitting_decimal_keeps_the_baseline_precision(versions: Versions) -> None:
    v1, _ = versions.run("id,valor\n1,12345678901234.1234\n2,1.5\n")
    assert column(v1, "valor")["arrow_type"] == "decimal128(19, 4)"
    report, out = versions.run("id,valor\n3,1234567890123456.5\n", baseline=baseline(v1))
    # 16 integer digits do not fit decimal(19, 4)'s 15: widened, not rejected.
    assert column(report, "valor")["arrow_type"] == "decimal128(20, 4)"
    assert str(rows(out)[0]["valor"]) == "1234567890123456.5000"
    assert report["schema_change"]["type_changed"][0]["widened"] is True
    report, _ = versions.run("id,valor\n4,123456789012345.25\n", baseline=baseline(v1))
    assert column(report, "valor")["arrow_type"] == "decimal128(19, 4)"
    assert report["schema_change"]["type_changed"] == []


# --- rejects: the ratio, line numbers, order ------------------------------------------------


def test_the_reject_ratio_fails_a_pinned_version(versions: Versions) -> None:
    v1, _ = versions.run("id,menge\n" + "".join(f"{i},{i}\n" for i in range(1, 11)))
    # 3 of 10 rows say 'viele': 30% rejected is more than the 10% allowed.
    v2 = "id,menge\n" + "".join(f"{i},{'viele' if i % 3 == 0 else i}\n" for i in range(1, 11))
    exc, out = versions.fails(v2, baseline=baseline(v1))
    assert str(exc) == (
        "3 of 10 rows (30%) were rejected (column 'menge' is not an int as in version 1: 3), "
        "more than the 10% allowed (MINI_MAX_REJECT_RATIO); the first is line 4: column "
        "'menge': 'viele' is not an int as in version 1 (on_schema_change=pin keeps the "
        "served types)"
    )
    assert not (out / "data.parquet").exists()
    assert not list(out.glob(".data*"))
    assert [r["line"] for r in rejects(out)] == ["4", "7", "10"]
    assert exc.schema_change is not None and exc.schema_change["rejected"] == {"menge": 3}
    # Allowed a bigger share, the same file is ready, still an int column.
    report, out = versions.run(v2, baseline=baseline(v1), max_reject_ratio=0.5)
    assert column(report, "menge")["type"] == "int"
    assert report["schema_change"]["rejected"] == {"menge": 3}


def test_pinned_rejects_merge_with_other_rejects_in_line_order(versions: Versions) -> None:
    v1, _ = versions.run("id,menge,nota\n" + "".join(f"{i},{i},n{i}\n" for i in range(1, 5)))
    lines = ["id,menge,nota"]
    for i in range(1, 41):
        if i == 5:
            lines.append("5,5")  # wrong number of fields: line 6
        elif i == 12:
            lines.append('12,?,"two\nlines"')  # lines 13-14; menge does not fit
        elif i == 30:
            lines.append("30,x,n30")  # line 32
        else:
            lines.append(f"{i},{i},n{i}")
    report, out = versions.run(
        "\n".join(lines) + "\n", baseline=baseline(v1), block_size=4096, batch_bytes=64
    )
    found = rejects(out)
    assert [(r["line"], r["reason"]) for r in found] == [
        ("6", "wrong number of fields"),
        ("13", "'?' is not an int as in version 1"),
        ("32", "'x' is not an int as in version 1"),
    ]
    assert found[1]["raw"] == '12,?,"two\nlines"'
    assert [r["line"] for r in report["rejects"]["sample"]] == [6, 13, 32]
    assert report["rows_rejected"] == 3
    assert report["rejects"]["lines"] == 4
    assert report["schema_change"]["type_changed"][0]["counterexamples"] == [
        {"line": 13, "value": "?"},
        {"line": 32, "value": "x"},
    ]


def test_pinned_lines_across_many_batches(versions: Versions) -> None:
    v1, _ = versions.run("n,v\n1,1.5\n2,2.5\n")
    body = ["n,v"]
    bad = {37, 512, 999, 1500}
    for i in range(1, 2001):
        if i % 100 == 0:
            body.append("")  # blank lines count as lines, not rows
        body.append(f"{i},{'-?-' if i in bad else f'{i}.25'}")
    text = "\n".join(body) + "\n"
    expected = [str(n + 1) for n, row in enumerate(body) if row.endswith("-?-")]
    report, out = versions.run(text, baseline=baseline(v1), block_size=4096, batch_bytes=2048)
    assert [r["line"] for r in rejects(out)] == expected
    assert report["rows_out"] == 2000 - len(bad)
    assert column(report, "v")["type"] == "float"


def test_duplicates_of_a_rejected_row_are_duplicates(versions: Versions) -> None:
    v1, _ = versions.run("a,b\n1,1\n2,2\n")
    text = "a,b\n" + "".join(f"{i},{i}\n" for i in range(1, 20)) + "9,x\n9,x\n"
    report, out = versions.run(text, baseline=baseline(v1), max_reject_ratio=0.2, dedupe=True)
    assert [r["line"] for r in rejects(out)] == ["21"]
    assert report["duplicates_removed"] == 1
    assert report["rows_rejected"] == 1
    # Without dedupe the duplicate is a row like any other: rejected too.
    report, out = versions.run(text, baseline=baseline(v1), max_reject_ratio=0.2)
    assert [r["line"] for r in rejects(out)] == ["21", "22"]
    assert (report["duplicates"]["count"], report["duplicates_removed"]) == (1, 0)
    assert report["rows_rejected"] == 2


# --- the diff on its own ----------------------------------------------------------------------


def test_diff() -> None:
    base = [
        BaselineColumn("id", "int", "int64"),
        BaselineColumn("preis", "int", "int64", null_count=2),
        BaselineColumn("betrag", "float", "double"),
        BaselineColumn("menge", "int", "int64"),
        BaselineColumn("valor", "decimal", "decimal128(20, 4)"),
        BaselineColumn("dia", "date", "date32[day]", "yyyy-mm-dd"),
    ]
    new = [
        NewColumn("id", ColumnType(Kind.INT, "plain"), 0),
        NewColumn("preis", ColumnType(Kind.FLOAT, "plain"), 0, (("1.5", 3),)),
        NewColumn("betrag", ColumnType(Kind.STRING), 1, (("k.A.", 7), ("x", None))),
        NewColumn("valor", ColumnType(Kind.DECIMAL, "plain", precision=18, scale=2), 0),
        NewColumn("dia", ColumnType(Kind.TIMESTAMP, "naive"), 0),
        NewColumn("region", ColumnType(Kind.STRING), 0),
    ]
    found = diff(base, new)
    assert found.added == [{"column": "region", "type": "string"}]
    assert found.removed == [{"column": "menge", "type": "int"}]
    assert [(c["column"], c["from"], c["to"], c["widened"]) for c in found.type_changed] == [
        ("preis", "int", "float", True),
        ("betrag", "float", "string", False),
        ("dia", "date", "timestamp", True),
    ]
    assert found.type_changed[1]["counterexamples"] == [
        {"line": 7, "value": "k.A."},
        {"line": None, "value": "x"},
    ]
    assert found.nullability == [
        {"column": "preis", "from": "nullable", "to": "not null", "null_count": 0},
        {"column": "betrag", "from": "not null", "to": "nullable", "null_count": 1},
    ]
    assert found.changed
    # Nullability alone is recorded, not a change of the schema.
    only_nulls = diff(base[:1], [NewColumn("id", ColumnType(Kind.INT, "plain"), 5)])
    assert only_nulls.nullability and not only_nulls.changed
    # Same kind, other Arrow type: a change, with both types named.
    utc = diff(
        [BaselineColumn("t", "timestamp", "timestamp[us]")],
        [NewColumn("t", ColumnType(Kind.TIMESTAMP, "utc"), 0)],
    )
    assert utc.type_changed[0]["to_arrow_type"] == "timestamp[us, tz=UTC]"
    assert (
        describe({"added": [], "removed": [], "type_changed": utc.type_changed})
        == "'t' changed from timestamp to timestamp (timestamp[us] to timestamp[us, tz=UTC])"
    )


def test_baseline_types_read_back_from_a_report(versions: Versions) -> None:
    text = (
        "i;g;f;c;p;d;b;dt;dm;ts;tz;s\n"
        "1;1,234;1.5;1.234,5;12,5%;12345678901234567,5;sim;2024-01-31;31/01/2024;"
        "2024-01-31 10:00;2024-01-31T10:00Z;a\n"
        "2;2,000;2.5;2,5;1%;1,5;não;2024-02-01;01/02/2024;2024-02-01 11:00;2024-02-01T11:00Z;b\n"
    )
    v1, _ = versions.run(text, delimiter=";")
    types = {c["name"]: c["type"] for c in v1["columns"]}
    assert set(types.values()) == {
        "int", "float", "decimal", "bool", "date", "timestamp", "string"
    }  # fmt: skip
    for col in baseline(v1).columns:
        ctype = baseline_type(col, 1)
        assert ctype.kind == col.type
    # The same file against itself: nothing changed, under the strictest policy.
    report, _ = versions.run(text, delimiter=";", baseline=baseline(v1), on_schema_change="reject")
    assert report["schema_change"]["changed"] is False
    assert [c["arrow_type"] for c in report["columns"]] == [c["arrow_type"] for c in v1["columns"]]


def test_a_report_without_columns_is_bad_input() -> None:
    with pytest.raises(BadInput, match="has no list of columns"):
        Baseline.from_report({"rows_in": 3}, 2, V1_ID)
    with pytest.raises(BadInput, match="unknown type 'money'"):
        Baseline.from_report({"columns": [{"name": "a", "type": "money", "arrow_type": "x"}]}, 2)
    with pytest.raises(BadInput, match="on_schema_change must be one of pin, reject, allow"):
        ProcessOptions(on_schema_change="ignore")


# --- no baseline --------------------------------------------------------------------------


def test_a_first_version_records_an_empty_comparison(versions: Versions) -> None:
    # (ProcessOptions counts the header's line from 0; the report as the user does, from 1)
    report, _ = versions.run("a;b\n1;x\n", header_row=0, on_schema_change="reject")
    assert report["schema_change"] == {
        "baseline": None,
        "policy": "reject",
        "added": [],
        "removed": [],
        "type_changed": [],
        "nullability": [],
        "changed": False,
    }
    assert report["options"]["header_row"] == 1
    assert report["options"]["delimiter"] is None
    report, _ = versions.run("a\n1\n")
    assert report["schema_change"]["rejected"] == {}


# --- the pieces pass 1 relies on ----------------------------------------------------------


def test_all_lines_matches_lines_of() -> None:
    columns = [
        pa.array(["a", "b\nc", "d", "e\r\nf\rg", "h"]),
        pa.array(["1", "2", "3\n", "4", "5"]),
    ]
    batch = BatchLines(first_line=7, inserts=[(1, 2), (4, 1)], columns=columns)
    assert batch.all_lines().tolist() == batch.lines_of([0, 1, 2, 3, 4])
    kept = pa.array([0, 2, 4]).to_numpy()
    assert batch.all_lines(kept).tolist() == batch.lines_of([0, 2, 4])


def test_copy_stats_copies_every_field() -> None:
    stats = ColumnStats()
    accumulate(stats, pa.array(["01/02/2024", "31/12/2023", None]))
    copied = copy_stats(stats)
    for f in dataclasses.fields(ColumnStats):
        if f.name != "near_miss":
            assert getattr(copied, f.name) == getattr(stats, f.name), f.name
    copied.alive.clear()
    copied.dm_max["dm/"][0] = 99
    assert stats.alive and stats.dm_max["dm/"][0] == 31


# --- options, the command line and the result manifest -------------------------------------


def test_options_from_reads_the_baseline_and_ignores_unknown_keys(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    report.write_text(
        json.dumps({"columns": [{"name": "a", "type": "int", "arrow_type": "int64"}]})
    )
    asked: list[str | None] = []

    def read(version_id: str | None) -> Any:
        asked.append(version_id)
        return json.loads(report.read_text())

    options = options_from(
        {
            "on_schema_change": "Allow",
            "baseline": {"id": V1_ID, "version": 4},
            "name": "euro",
            "something_new": [1],
        },
        read_report=read,
    )
    assert options.on_schema_change == "allow"
    assert options.baseline == Baseline(
        4, (BaselineColumn("a", "int", "int64"),), V1_ID, served=("a",)
    )
    assert asked == [V1_ID]
    assert options_from({}).baseline is None
    assert options_from({}).on_schema_change == "pin"
    with pytest.raises(BadInput, match="32 hex digits"):
        options_from({"baseline": {"id": "v1", "version": 1}}, read_report=read)
    with pytest.raises(BadInput, match="must be a number"):
        options_from({"baseline": {"id": V1_ID, "version": "one"}}, read_report=read)


def test_command_line_with_a_baseline_report(tmp_path: Path) -> None:
    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "processor", "process", *args],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )

    (tmp_path / "v1.csv").write_text(EURO_V1)
    (tmp_path / "v2.csv").write_text(EURO_V2_EMPTY_MENGE)
    (tmp_path / "v2-drops.csv").write_text(EURO_V2)
    assert cli(str(tmp_path / "v1.csv"), str(tmp_path / "v1")).returncode == 0
    base = str(tmp_path / "v1" / "report.json")

    done = cli(str(tmp_path / "v2.csv"), str(tmp_path / "v2"), "--baseline-report", base)
    assert done.returncode == 0, done.stderr
    report = json.loads((tmp_path / "v2" / "report.json").read_text())
    assert column(report, "betrag")["type"] == "float"
    assert report["schema_change"]["baseline"] == {"id": None, "version": 1}
    assert rejects(tmp_path / "v2")[0]["reason"] == "'k.A.' is not a float as in version 1"

    done = cli(
        str(tmp_path / "v2-drops.csv"),
        str(tmp_path / "v3"),
        "--baseline-report",
        base,
        "--baseline-version",
        "2",
        "--on-schema-change",
        "reject",
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: the columns differ from version 2")
    assert "removed 'menge' (int)" in done.stderr

    done = cli(str(tmp_path / "v2.csv"), str(tmp_path / "v4"), "--baseline-report", "nope.json")
    assert done.returncode == 2
    assert "the baseline report nope.json cannot be read" in done.stderr


def _store(tmp_path: Path) -> tuple[Settings, Any]:
    settings = Settings(data_dir=tmp_path / "data", processor={"update_catalog": False})
    store = make_store(settings)
    store.ensure_bucket(settings.storage.raw_bucket)
    store.ensure_bucket(settings.storage.processed_bucket)
    return settings, store


def _result(settings: Settings, store: Any, dataset_id: str) -> dict[str, Any]:
    with store.open(settings.storage.processed_bucket, keys.result_key(dataset_id)) as fh:
        data: dict[str, Any] = json.loads(fh.read())
    return data


def test_run_dataset_compares_with_the_served_version(tmp_path: Path) -> None:
    settings, store = _store(tmp_path)
    raw = settings.storage.raw_bucket
    v1, v2, v3, v4 = V1_ID, "1" * 32, "2" * 32, "3" * 32
    store.put_bytes(raw, keys.raw_key(v1), EURO_V1.encode())
    assert run_dataset(settings, v1, {}) == 0
    first = _result(settings, store, v1)
    assert first["status"] == "ready" and first["rows_out"] == 4
    assert first["schema_change"]["baseline"] is None

    store.put_bytes(raw, keys.raw_key(v2), EURO_V2_EMPTY_MENGE.encode())
    assert run_dataset(settings, v2, {"baseline": {"id": v1, "version": 1}}) == 0
    second = _result(settings, store, v2)
    assert second["status"] == "ready"
    assert second["rows_rejected"] == 1
    assert second["schema_change"]["rejected"] == {"betrag": 1}
    assert second["schema_change"]["type_changed"][0]["served"] == "float"

    store.put_bytes(raw, keys.raw_key(v3), EURO_V2.encode())
    options = {"baseline": {"id": v2, "version": 2}, "on_schema_change": "reject"}
    assert run_dataset(settings, v3, options) == 2
    third = _result(settings, store, v3)
    assert third["status"] == "failed"
    assert third["error"].startswith("the columns differ from version 2")
    assert third["schema_change"]["removed"] == [{"column": "menge", "type": "int"}]
    assert not store.exists(settings.storage.processed_bucket, keys.data_key(v3))

    # A baseline whose report is not there fails the version, never silently passes it.
    store.put_bytes(raw, keys.raw_key(v4), EURO_V1.encode())
    assert run_dataset(settings, v4, {"baseline": {"id": "4" * 32, "version": 3}}) == 2
    fourth = _result(settings, store, v4)
    assert fourth["status"] == "failed"
    assert "does not exist, so this version cannot be compared with it" in fourth["error"]
    assert "schema_change" not in fourth


def test_a_late_misfit_reads_the_earlier_values_as_before(versions: Versions) -> None:
    """The family dies in a late batch: what the values looked like until then (and the
    fitting ones after) still decides how the column is read."""
    v1, _ = versions.run(EURO_V1)
    body = [f"{i % 28 + 1:02d}.06.2024;{i % 999 + 1}.000,{i % 100:02d};{i}" for i in range(2000)]
    body[1799] = "15.06.2024;k.A.;1799"  # line 1801
    report, out = versions.run(
        "Datum;Betrag;Menge\n" + "\n".join(body) + "\n",
        baseline=baseline(v1),
        block_size=4096,
        batch_bytes=2048,
    )
    assert column(report, "betrag")["type"] == "float"
    assert column(report, "betrag")["format"] == "1.234,56"
    assert [(r["line"], r["raw"]) for r in rejects(out)] == [("1801", body[1799])]
    values = [r["betrag"] for r in rows(out)]
    assert values[:2] == [1000.0, 2000.01] and len(values) == 1999
    [change] = report["schema_change"]["type_changed"]
    assert change["counterexamples"] == [{"line": 1801, "value": "k.A."}]


# (read as, stored as, values that fit, values that do not)
MISFITS = [
    (
        ColumnType(Kind.INT, "plain"),
        pa.int64(),
        ["1", "-7", "0"],
        ["x", "007", "99999999999999999999"],
    ),
    (
        ColumnType(Kind.FLOAT, "plain"),
        pa.float64(),
        ["1.5", "3", "-.5", "1e3"],
        ["1e999", "nan", "007", "+1", "."],
    ),
    (
        ColumnType(Kind.FLOAT, "decimal_comma"),
        pa.float64(),
        ["1.234,5", "7", "0,5"],
        ["k.A.", "1,2,3", "1000.000,5", "1.5"],
    ),
    (
        ColumnType(Kind.FLOAT, "percent_comma"),
        pa.float64(),
        ["12,5%", "3 %"],
        ["12.5%", "x%", "12"],
    ),
    (
        ColumnType(Kind.DECIMAL, "plain", 6, 2),
        pa.decimal128(6, 2),
        ["1.25", "9999.99", "7"],
        ["1.255", "99999", "1,5"],
    ),
    (
        ColumnType(Kind.DECIMAL, "decimal_comma", 6, 2),
        pa.decimal128(6, 2),
        ["1.234,5", "7"],
        ["1,255", "k.A."],
    ),
    (
        ColumnType(Kind.INT, "plain"),
        pa.float64(),
        ["1", "9007199254740992"],
        ["9007199254740993", "1.5"],
    ),
    (
        ColumnType(Kind.DATE, "dmy/"),
        pa.date32(),
        ["31/01/2024", "1/2/2024"],
        ["31/02/2024", "2024-01-31", "x"],
    ),
    (
        ColumnType(Kind.DATE, "iso"),
        pa.timestamp("us"),
        ["2024-01-31"],
        ["2024-13-01", "31/01/2024"],
    ),
    (
        ColumnType(Kind.BOOL),
        pa.bool_(),
        ["sim", "1", "N", "False"],
        ["talvez", "2"],
    ),
    (
        ColumnType(Kind.TIMESTAMP, "naive"),
        pa.timestamp("us"),
        ["2024-01-31 10:00", "2024-01-31T10:00:01"],
        ["10:00", "2024-01-31T25:00", "2024-01-31T10:00Z"],
    ),
]


@pytest.mark.parametrize(("parse", "target", "good", "bad"), MISFITS)
def test_misfits_are_the_values_that_do_not_fit(
    parse: ColumnType, target: pa.DataType, good: list[str], bad: list[str]
) -> None:
    from processor.pipeline.convert import convert_to, misfits

    values = [*good, None, *bad] * 30  # some batches' worth, interleaved
    array = pa.array(values, pa.string())
    expected = [v in bad for v in values]
    assert misfits(array, parse, target).tolist() == expected
    typed, found = convert_to(array, parse, target, checked=True)
    assert found is not None and found.tolist() == expected
    assert typed.type == target
    assert typed.null_count == sum(expected) + 30
    fitting, none = convert_to(pa.array([*good, None] * 3, pa.string()), parse, target, True)
    assert none is None and fitting.null_count == 3
