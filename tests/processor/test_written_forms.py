"""Numbers, dates and table layouts as people write them (issue 12, sections 3 and 4).

Each file is small and realistic: what R's write.table, a fixed-width report, a US
government spreadsheet export or a Brazilian bank statement look like.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from processor.pipeline import BadInput, ProcessOptions, process_csv
from processor.pipeline.process import detect


def run(
    tmp_path: Path, text: str, name: str = "f.csv"
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out = tmp_path / "out"
    report = process_csv(lambda: path.open("rb"), out)
    return report, pq.read_table(out / "data.parquet").to_pylist()


def columns(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in report["columns"]}


# --- numbers ---------------------------------------------------------------------------


def test_currency_accounting_and_minus_signs(tmp_path: Path) -> None:
    text = (
        "id;valor;total;saldo;variacao;ajuste\n"
        "1;R$ 1.234,56;$1,234.56;(1,234.00);\u22123,5;123-\n"
        "2;R$ 10,00;$12.00;2,000.00;\u20134,25;45\n"
        "3;R$ 0,99;$0.50;(0.75);1,5;7-\n"
    )
    report, rows = run(tmp_path, text)
    cols = columns(report)
    assert [cols[n]["type"] for n in ("valor", "total", "saldo", "variacao", "ajuste")] == [
        "float",
        "float",
        "float",
        "float",
        "int",
    ]
    assert "currency R$ removed" in cols["valor"]["notes"][0]
    assert "currency $ removed" in cols["total"]["notes"][0]
    assert "accounting negative" in cols["saldo"]["notes"][0]
    assert "with currency or sign marks" in cols["valor"]["format"]
    assert [r["valor"] for r in rows] == [1234.56, 10.0, 0.99]
    assert [r["total"] for r in rows] == [1234.56, 12.0, 0.5]
    assert [r["saldo"] for r in rows] == [-1234.0, 2000.0, -0.75]
    assert [r["variacao"] for r in rows] == [-3.5, -4.25, 1.5]
    assert [r["ajuste"] for r in rows] == [-123, 45, -7]


def test_currency_after_the_number_and_codes(tmp_path: Path) -> None:
    report, rows = run(tmp_path, "preis;usd\n1.234,56 \u20ac;USD 12\n3,50 \u20ac;USD 7\n")
    cols = columns(report)
    assert cols["preis"]["type"] == "float"
    assert "\u20ac" in cols["preis"]["notes"][0]
    assert cols["usd"]["type"] == "int" and "USD" in cols["usd"]["notes"][0]
    assert [r["preis"] for r in rows] == [1234.56, 3.5]


def test_two_currencies_in_one_column_stay_text(tmp_path: Path) -> None:
    report, _ = run(tmp_path, "amount\n$12.00\n\u20ac13.00\n$1.00\n")
    assert columns(report)["amount"]["type"] == "string"


def test_government_markers_are_named_with_their_lines(tmp_path: Path) -> None:
    # 7 of 8 values are amounts (87.5%, under the old 90% threshold).
    amounts = ["$1,234", "$2,000", "(D)", "$15", "$7,250", "$310", "$98", "$1,000"]
    report, _ = run(
        tmp_path, "county,sales\n" + "".join(f'c{i},"{a}"\n' for i, a in enumerate(amounts))
    )
    sales = columns(report)["sales"]
    assert sales["type"] == "string"
    assert sales["counterexamples"] == [{"value": "(D)", "line": 4}]
    assert "7 of 8 values are numbers, but not '(D)' (line 4)" in sales["notes"][0]
    assert "null_tokens" in sales["notes"][0]


# --- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["05-Mar-2024", "31-Dec-1999"], [dt.date(2024, 3, 5), dt.date(1999, 12, 31)]),
        (["Jan 1 2000", "Feb 29 2004"], [dt.date(2000, 1, 1), dt.date(2004, 2, 29)]),
        (["January 1, 2000", "March 15, 2001"], [dt.date(2000, 1, 1), dt.date(2001, 3, 15)]),
        (
            ["5 de mar\u00e7o de 2024", "1 de dezembro de 2023"],
            [dt.date(2024, 3, 5), dt.date(2023, 12, 1)],
        ),
        (
            ["5 de marzo de 2024", "12 de diciembre de 2023"],
            [dt.date(2024, 3, 5), dt.date(2023, 12, 12)],
        ),
        (["mars 2024", "ao\u00fbt 2023"], [dt.date(2024, 3, 1), dt.date(2023, 8, 1)]),
        (["1. M\u00e4rz 2024", "24. Dezember 2023"], [dt.date(2024, 3, 1), dt.date(2023, 12, 24)]),
        (["05-Mar-85", "05-Mar-24"], [dt.date(1985, 3, 5), dt.date(2024, 3, 5)]),
        (["1/1/85", "25/12/99"], [dt.date(1985, 1, 1), dt.date(1999, 12, 25)]),
        (["2024/01/31", "2023/1/2"], [dt.date(2024, 1, 31), dt.date(2023, 1, 2)]),
    ],
)
def test_dates_as_written(tmp_path: Path, values: list[str], expected: list[dt.date]) -> None:
    text = "when,n\n" + "".join(f'"{v}",{i}\n' for i, v in enumerate(values))
    report, rows = run(tmp_path, text)
    assert columns(report)["when"]["type"] == "date", columns(report)["when"]
    assert [r["when"] for r in rows] == expected


def test_slash_timestamps(tmp_path: Path) -> None:
    report, rows = run(tmp_path, "date,temp\n2010/01/01 00:00,39.4\n2010/01/01 13:05:09,39.2\n")
    assert columns(report)["date"]["type"] == "timestamp"
    assert rows[1]["date"] == dt.datetime(2010, 1, 1, 13, 5, 9)


def test_month_names_that_are_not_months_stay_text(tmp_path: Path) -> None:
    report, _ = run(tmp_path, "street\nMain 12 2000\nMar 40 2000\n")
    assert columns(report)["street"]["type"] == "string"


# --- layouts ----------------------------------------------------------------------------


def test_r_write_table_single_space_with_row_names(tmp_path: Path) -> None:
    text = (
        '"mpg" "cyl" "name"\n"Mazda RX4" 21 6 "a b"\n'
        '"Datsun 710" 22.8 4 "c"\n"Valiant" 18.1 6 "d"\n'
    )
    report, rows = run(tmp_path, text, "cars.txt")
    assert report["detection"]["layout"]["value"] == "whitespace-runs"
    assert report["detection"]["row_labels"]["value"] is True
    assert list(rows[0]) == ["row_label", "mpg", "cyl", "name"]
    assert rows[0] == {"row_label": "Mazda RX4", "mpg": 21.0, "cyl": 6, "name": "a b"}


def test_tabs_and_spaces_mixed_with_empty_first_header_cell(tmp_path: Path) -> None:
    text = (
        "          \t      SIZE SUBS  STAFF\n"
        "Appropriations   \t58   13    109\n"
        "Budget   \t\t42   0     39\n"
        "Rules   \t\t13   2     25\n"
    )
    report, rows = run(tmp_path, text, "committee.dat")
    assert report["rows_rejected"] == 0
    assert list(rows[0]) == ["row_label", "size", "subs", "staff"]
    assert rows[1] == {"row_label": "Budget", "size": 42, "subs": 0, "staff": 39}


def test_fixed_width_with_title_rules_and_notes(tmp_path: Path) -> None:
    text = (
        "                 MONTHLY MEAN NUMBERS\n"
        "=====================================\n"
        "Year    Jan   Feb   Mar\n"
        "-------------------------------------\n"
        "1749    58.0  62.6 170.0\n"
        "1750    73.3 175.9  89.2\n"
        "\n"
        "1751    70.0  43.5  45.3\n"
        "1752    35.0  50.0  71.0\n"
        "-------------------------------------\n"
    )
    report, rows = run(tmp_path, text, "sunspots.dat")
    assert report["rows_rejected"] == 0
    assert len(rows) == 4
    assert rows[0] == {"year": 1749, "jan": 58.0, "feb": 62.6, "mar": 170.0}
    assert report["detection"]["layout"]["value"] in ("fixed-width", "whitespace-runs")


def test_right_aligned_fixed_width_with_spaces_in_cells_and_wider_ids(tmp_path: Path) -> None:
    # As R prints a data frame (lifelines' divorce.dat): right-aligned columns, a text
    # column whose values hold single spaces ("< 12 years", "12-15 years", "16+ years":
    # the space before "years" is blank on every line), and ids one digit wider below
    # the first 500 lines, starting left of where the column started in the sample.
    edu = ["12-15 years", "< 12 years", "16+ years"]
    lines = ["       id        heduc   heblack   mixed     years   div"]
    for i in range(1, 1201):
        lines.append(
            f"{i * 9:>9}{edu[i % 3]:>14}{'Yes' if i % 5 else 'No':>10}"
            f"{'No' if i % 7 else 'Yes':>8}{i % 600 / 7:>10.3f}{'No' if i % 2 else 'Yes':>6}"
        )
    report, rows = run(tmp_path, "\n".join(lines) + "\n", "divorce.dat")
    assert report["detection"]["layout"]["value"] == "fixed-width"
    assert report["rows_rejected"] == 0
    assert report["source"]["note_lines_skipped_after_table"] == 0
    assert len(rows) == 1200
    assert list(rows[0]) == ["id", "heduc", "heblack", "mixed", "years", "div"]
    assert rows[0] == {
        "id": 9,
        "heduc": "< 12 years",
        "heblack": True,
        "mixed": False,
        "years": 0.143,
        "div": False,
    }
    assert rows[-1]["id"] == 10800 and rows[-1]["heduc"] == "12-15 years"
    assert {r["heduc"] for r in rows} == set(edu)


def test_fixed_width_label_reaching_the_next_column_under_a_title(tmp_path: Path) -> None:
    # A left-aligned label ("Oslo Blindern") ends where the next column's header starts,
    # so no position is blank on every line between them; every line still has three
    # cells two or more spaces apart. The title is not cut into cells.
    text = (
        "  STATION REPORT\n\n"
        "***********************************\n"
        "Station      Temp   Rain\n"
        "***********************************\n"
        "Oslo Blindern  12.5    0.0\n"
        "Bergen         10.1   22.4\n"
        "Tromso          4.0    3.1\n"
        "***********************************\n"
    )
    report, rows = run(tmp_path, text, "stations.txt")
    assert report["detection"]["layout"]["value"] == "fixed-width"
    assert report["rows_rejected"] == 0
    assert rows == [
        {"station": "Oslo Blindern", "temp": 12.5, "rain": 0.0},
        {"station": "Bergen", "temp": 10.1, "rain": 22.4},
        {"station": "Tromso", "temp": 4.0, "rain": 3.1},
    ]


def test_metadata_line_above_a_table_of_numbers_without_header(tmp_path: Path) -> None:
    # scikit-learn's breast_cancer.csv and wine_data.csv: a first line of counts and
    # class names ("569,30,malignant,benign") naming far fewer columns than the rows
    # have, then rows of numbers only. The line is a title, and there is no header.
    rows_text = "".join(
        ",".join(f"{(r * 7 + c) % 23 + 0.5}" for c in range(6)) + f",{r % 2}\n" for r in range(40)
    )
    report, rows = run(tmp_path, "40,6,malignant,benign\n" + rows_text, "breast_cancer.csv")
    assert report["rows_rejected"] == 0
    assert report["source"]["header"]["present"] is False
    assert report["source"]["lines_skipped_before_header"] == 1
    assert len(rows) == 40 and len(rows[0]) == 7
    assert rows[0]["column_1"] == 0.5 and rows[0]["column_7"] == 0
    # A header of numbers under a title, over row labels, stays a header (messytables).
    text = "Arzte je Jahr\n;1985;1993;2000\nChirurgie;1;2;3\nKinder;4;5;6\nHerz;7;8;9\n"
    report, rows = run(tmp_path, text, "years.csv")
    assert report["source"]["header"]["present"] is True
    assert [c["original_name"] for c in report["columns"]][1:] == ["1985", "1993", "2000"]
    assert len(rows) == 3


def test_names_over_more_fields_are_a_broken_header_not_a_title(tmp_path: Path) -> None:
    # Two names over four-field rows carry no count that would make them a title:
    # the file fails on its field counts instead of losing the names.
    with pytest.raises(BadInput, match="expected 2 fields, found 4"):
        run(tmp_path, "a,b\n1,2,3,4\n5,6,7,8\n", "broken.csv")


def test_c_comment_and_title_above_a_whitespace_table(tmp_path: Path) -> None:
    text = (
        "/*quarterly, seasonally adjusted, West German\n"
        "fixed investment, disposable income, consumption\n"
        "source: Deutsche Bundesbank\n"
        "*/\n"
        "<1960 Q1>\n"
        "invest     income     cons\n"
        "180         451       415\n"
        "179         465       421\n"
        "185         485       434\n"
    )
    report, rows = run(tmp_path, text, "e1.dat")
    assert report["detection"]["preamble"]["comment_block_lines"] == 4
    assert report["rows_rejected"] == 0
    assert rows[0] == {"invest": 180, "income": 451, "cons": 415}


def test_key_value_preamble_above_a_csv(tmp_path: Path) -> None:
    text = (
        "Series Id:           LNS14000000Q\n"
        "Seasonally Adjusted\n"
        "Series title:        (Seas) Unemployment Rate\n"
        "\n"
        "Series id,Year,Period,Value\n"
        "LNS14000000Q,1959,Q01,5.8\n"
        "LNS14000000Q,1959,Q02,5.1\n"
        "LNS14000000Q,1959,Q03,5.3\n"
    )
    report, rows = run(tmp_path, text)
    assert report["rows_rejected"] == 0
    assert rows[0] == {"series_id": "LNS14000000Q", "year": 1959, "period": "Q01", "value": 5.8}


def test_hash_comment_lines_are_not_the_header(tmp_path: Path) -> None:
    text = "# 1 NUMBER   Galaxy ID\n# 2 FLUX_ISO\n1 0.5 3\n2 5.5 4\n3 8.25 5\n"
    report, rows = run(tmp_path, text, "sex.dat")
    assert report["source"]["header"]["present"] is False
    assert len(rows) == 3


@pytest.mark.parametrize("sep", ["\t", "  "])
def test_comment_lines_inside_a_table_are_never_rows(tmp_path: Path, sep: str) -> None:
    # astropy's apostrophe.rdb: "# second comment", indented, between the rows of a
    # three-column table has three words; it is a comment, not a row (tab-separated),
    # and not a row either when the table is split at runs of blanks.
    lines = ["# first comment", "id name n", "11 jean's 1", "  # second comment", "12 b 8"]
    lines += [f"{i} x{i} {i % 3}" for i in range(13, 20)]
    report, rows = run(tmp_path, "\n".join(ln.replace(" ", sep) for ln in lines) + "\n")
    assert report["rows_rejected"] == 0
    assert report["source"]["comment_lines_skipped"] == 1
    assert [r["id"] for r in rows] == [11, 12, *range(13, 20)]
    assert list(rows[0]) == ["id", "name", "n"]


def test_one_line_header_only(tmp_path: Path) -> None:
    report, rows = run(tmp_path, "a b c\n", "h.dat")
    assert report["rows_out"] == 0 and rows == []
    assert [c["name"] for c in report["columns"]] == ["a", "b", "c"]


def test_one_line_record_without_header(tmp_path: Path) -> None:
    report, rows = run(tmp_path, "1,2,3\n")
    assert report["source"]["header"]["present"] is False
    assert len(rows) == 1


def test_quoted_fields_keep_their_tabs_in_whitespace_tables(tmp_path: Path) -> None:
    text = (
        ' "quoted colname with tab\tinside"  col2  \t\t col3\n'
        'val1   "val2 with\ttab"  \t2\n'
        " val3   val4                    3\n"
    )
    path = tmp_path / "ws.dat"
    path.write_text(text)
    _, dialect = detect(lambda: path.open("rb"), ProcessOptions())
    assert dialect.whitespace
    report, rows = run(tmp_path, text, "ws.dat")
    assert rows[0]["col2"] == "val2 with\ttab"
    assert report["columns"][0]["original_name"] == "quoted colname with tab\tinside"


def test_rows_with_a_trailing_delimiter_the_header_lacks(tmp_path: Path) -> None:
    report, rows = run(tmp_path, "a,b,c\n1,2,3,\n4,5,6,\n7,8,9,\n")
    assert report["rows_rejected"] == 0
    assert report["detection"]["row_labels"]["value"] is False
    assert rows[0] == {"a": 1, "b": 2, "c": 3}


def test_written_forms_are_named_in_the_detection(tmp_path: Path) -> None:
    text = 'paid,when,at\n"$1,234.56",1/1/85,2024/01/31\n"(12.00)",25/12/99,2024/02/01\n'
    report, rows = run(tmp_path, text)
    forms = {(f["column"], f["form"].split(" (")[0]) for f in report["detection"]["written_forms"]}
    assert forms == {
        ("paid", "numbers with marks"),
        ("when", "two-digit years"),
        ("at", "yyyy/mm/dd dates"),
    }
    assert rows[1] == {"paid": -12.0, "when": dt.date(1999, 12, 25), "at": dt.date(2024, 2, 1)}
    assert "two-digit years read as" in columns(report)["when"]["notes"][0]
