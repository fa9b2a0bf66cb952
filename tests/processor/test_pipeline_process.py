"""End-to-end: process_csv on small generated files, read back with pyarrow."""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from processor.pipeline import BadInput, ProcessOptions, process_csv

from .conftest import Result

Run = Callable[..., Result]


# --- encodings -----------------------------------------------------------------------


def test_utf8_bom(run_csv: Run) -> None:
    res = run_csv(codecs.BOM_UTF8 + "nome,idade\nJoão,30\n".encode())
    assert res.report["source"]["encoding"] == "utf-8"
    assert res.report["source"]["bom"] is True
    assert res.rows == [{"nome": "João", "idade": 30}]
    assert res.report["columns"][0]["original_name"] == "nome"


def test_utf16_with_bom(run_csv: Run) -> None:
    res = run_csv("cidade;população\nSão Paulo;12325232\n".encode("utf-16"))
    assert res.report["source"]["encoding"] == "utf-16-le"
    assert res.rows == [{"cidade": "São Paulo", "população": 12325232}]


def test_cp1252_is_detected(run_csv: Run) -> None:
    text = "nome;cidade\n" + "João;São Paulo\nMaria;Brasília\n" * 30
    res = run_csv(text.encode("cp1252"))
    assert res.report["source"]["encoding"] == "cp1252"
    assert res.rows[0] == {"nome": "João", "cidade": "São Paulo"}
    assert any("cp1252" in w for w in res.report["warnings"])


def test_bad_utf8_reports_byte_offset(run_csv: Run) -> None:
    data = "nome,cidade\nJoão,São Paulo\n".encode() + b"Ana,Bel\xe9m\n"
    offset = data.index(b"\xe9")
    with pytest.raises(BadInput, match=rf"byte 0xe9 at byte offset {offset}\b"):
        run_csv(data)


def test_bad_utf8_after_the_sample_reports_byte_offset(tmp_path: Path, run_csv: Run) -> None:
    good = "id,nome\n" + "".join(f"{i},ação {i}\n" for i in range(2000))
    data = good.encode() + b"2001,\xff\n"
    with pytest.raises(BadInput, match=rf"at byte offset {len(good.encode()) + 5}\b"):
        run_csv(data, sample_bytes=4096, block_size=4096)
    assert not (tmp_path / "out1" / "data.parquet").exists()


def test_forced_encoding(run_csv: Run) -> None:
    res = run_csv("a\nçã\n".encode("latin-1"), encoding="latin-1")
    assert res.rows == [{"a": "çã"}]
    assert res.report["source"]["encoding_detected_by"] == "option"


# --- unusable input --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"\n\n  \r\n", "no columns"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
        (b"a,b\n1,\x00\n", "binary"),
    ],
)
def test_unusable_files(run_csv: Run, data: bytes, message: str) -> None:
    with pytest.raises(BadInput, match=message) as info:
        run_csv(data)
    assert "\n" not in str(info.value)


def test_too_many_rejected_rows(run_csv: Run) -> None:
    data = "a,b\n1,2\n3\n4,5,6\n7,8\n"
    with pytest.raises(
        BadInput,
        match=r"2 of 4 rows \(50%\) were rejected \(wrong number of fields: 2\), more than the "
        r"10% allowed \(MINI_MAX_REJECT_RATIO\); the first is line 3: expected 2 fields, found 1",
    ):
        run_csv(data)
    # The ratio is a setting: the same file passes when half of it may be rejected.
    assert run_csv(data, max_reject_ratio=0.5).report["rows_rejected"] == 2


def test_more_rejected_rows_below_the_table_than_held_back_are_not_notes(run_csv: Run) -> None:
    # 1,100 malformed rows at the end, with no blank line above them: rejected, every
    # one, never taken for notes below the table because the first 100 had already
    # been written out of the 1,000 held back.
    data = "a,b\n" + "".join(f"{i},x\n" for i in range(12_000))
    data += "".join(f"{i},y,extra\n" for i in range(1_100))
    report = run_csv(data).report
    assert report["rows_rejected"] == 1_100
    assert report["source"]["note_lines_skipped_after_table"] == 0
    assert report["rows_out"] == 12_000


def test_field_too_large(run_csv: Run) -> None:
    with pytest.raises(BadInput, match="limit is 100 bytes"):
        run_csv("a,b\n1," + "x" * 200 + "\n", max_field_bytes=100)


def test_unterminated_quote_swallowing_lines(run_csv: Run) -> None:
    data = 'a,b,c\n1,2,3\n4,"oops,6\n7,8,9\n' + "10,11,12\n" * 50
    # The open quote took the 51 lines below it: they count against the ratio.
    with pytest.raises(BadInput, match=r"52 of 53 rows .*unterminated quote: 1.* line 3"):
        run_csv(data)


def test_unterminated_quote_in_a_big_file(run_csv: Run) -> None:
    data = 'a,b\n1,"never closed\n' + "2,3\n" * 40_000
    with pytest.raises(BadInput, match="never closed"):
        run_csv(data, block_size=4096, max_field_bytes=16_384)


# --- dialect ---------------------------------------------------------------------------


def test_semicolon_and_decimal_comma(run_csv: Run) -> None:
    data = "produto;preço;quantidade;desconto\nA;1.234,56;3;0,5\nB;12,5;4;1\nC;-0,75;5;2,25\n"
    res = run_csv(data)
    assert res.report["source"]["delimiter"] == ";"
    assert res.column("preço") == [1234.56, 12.5, -0.75]
    assert res.column("desconto") == [0.5, 1.0, 2.25]
    assert res.col_type("quantidade") == "int"


def test_tab_and_pipe(run_csv: Run) -> None:
    assert run_csv("a\tb\n1\tx y\n").rows == [{"a": 1, "b": "x y"}]
    assert run_csv("a|b\n1|x,y\n").rows == [{"a": 1, "b": "x,y"}]


@pytest.mark.parametrize("eol", ["\n", "\r\n", "\r"])
def test_line_endings_and_newlines_in_quotes(run_csv: Run, eol: str) -> None:
    data = eol.join(["id,text", '1,"line one' + eol + 'line two"', "2,plain", ""])
    res = run_csv(data)
    assert res.rows == [{"id": 1, "text": f"line one{eol}line two"}, {"id": 2, "text": "plain"}]


def test_comma_inside_quotes_is_not_a_split(run_csv: Run) -> None:
    res = run_csv('nome,endereço\n"Silva, Ana","Rua A, 10"\n')
    assert res.rows == [{"nome": "Silva, Ana", "endereço": "Rua A, 10"}]


def test_header_detection_and_no_header(run_csv: Run) -> None:
    res = run_csv("1,2020-01-01,x\n2,2021-05-06,y\n")
    assert res.report["source"]["header"] == {"present": False, "detected": True, "line": None}
    assert res.rows[0] == {"column_1": 1, "column_2": dt.date(2020, 1, 1), "column_3": "x"}
    forced = run_csv("a,b\nc,d\n", no_header=True)
    assert forced.rows == [{"column_1": "a", "column_2": "b"}, {"column_1": "c", "column_2": "d"}]


def test_title_rows_are_skipped(run_csv: Run) -> None:
    data = "Relatório de vendas 2024\n\nid,valor,cidade\n1,10,Recife\n2,20,Natal\n"
    res = run_csv(data)
    assert res.report["source"]["header"]["line"] == 3
    assert res.rows == [
        {"id": 1, "valor": 10, "cidade": "Recife"},
        {"id": 2, "valor": 20, "cidade": "Natal"},
    ]
    assert any("above the header" in w for w in res.report["warnings"])


def test_header_row_option(run_csv: Run) -> None:
    res = run_csv("lixo,lixo\nmais lixo\nx,y\n1,2\n", header_row=2)
    assert res.rows == [{"x": 1, "y": 2}]


def test_header_normalisation_and_original_names(run_csv: Run) -> None:
    res = run_csv("Nome do Cliente,,Valor (R$),valor r,Nome do Cliente,%\na,b,1,2,c,3\n")
    names = [c["name"] for c in res.report["columns"]]
    assert names == [
        "nome_do_cliente",
        "column_2",
        "valor_brl",
        "valor_r",
        "nome_do_cliente_2",
        "pct",
    ]
    originals = [c["original_name"] for c in res.report["columns"]]
    assert originals == ["Nome do Cliente", "", "Valor (R$)", "valor r", "Nome do Cliente", "%"]
    schema = pq.read_schema(res.out_dir / "data.parquet")
    meta = json.loads(schema.metadata[b"mini_pipeline"])
    assert meta["original_names"] == originals
    assert schema.field("valor_brl").metadata[b"original_name"] == b"Valor (R$)"


# --- cleaning and types -------------------------------------------------------------------


def test_trim_and_null_tokens(run_csv: Run) -> None:
    data = "a,b,c\n  x  ,NA, 1 \n\u00a0y,N/A,NULL\nz,-,  \nw,na,None\n"
    res = run_csv(data)
    assert res.column("a") == ["x", "y", "z", "w"]
    assert res.column("b") == [None, None, None, "na"]
    assert res.column("c") == [1, None, None, None]
    assert res.report["steps"]["null_tokens"]["values_nulled"] == 6
    assert res.report["steps"]["trim"]["values_changed"] == 4
    nulls = {c["name"]: c["null_count"] for c in res.report["columns"]}
    assert nulls == {"a": 0, "b": 3, "c": 3}


def test_custom_null_tokens(run_csv: Run) -> None:
    res = run_csv("a,b\n?,x\n1,NA\n", null_tokens=("?",))
    assert res.rows == [{"a": None, "b": "x"}, {"a": 1, "b": "NA"}]


def test_types_and_arrow_schema(run_csv: Run) -> None:
    data = (
        "id,preco,ativo,flag,dia,criado,criado_tz,texto\n"
        "1,1.5,sim,1,2024-02-29,2024-01-01 10:00:00,2024-01-01T10:00:00Z,a\n"
        "2,2,não,0,2024-03-01,2024-01-02T11:30,2024-01-01T10:00:00-03:00,b\n"
    )
    res = run_csv(data)
    schema = pq.read_schema(res.out_dir / "data.parquet")
    assert [str(f.type) for f in schema] == [
        "int64",
        "double",
        "bool",
        "int64",
        "date32[day]",
        "timestamp[us]",
        "timestamp[us, tz=UTC]",
        "string",
    ]
    assert res.rows[1]["criado_tz"] == dt.datetime(2024, 1, 1, 13, 0, tzinfo=dt.UTC)
    assert res.rows[0]["ativo"] is True and res.rows[1]["ativo"] is False
    parquet_schema = res.parquet.schema
    assert "Date" in str(parquet_schema.column(4).logical_type)
    assert "Timestamp" in str(parquet_schema.column(5).logical_type)


def test_day_month_dates(run_csv: Run) -> None:
    res = run_csv("quando,ambiguo\n05/03/2024,01/02/2024\n25/12/2024,02/01/2024\n")
    assert res.column("quando") == [dt.date(2024, 3, 5), dt.date(2024, 12, 25)]
    assert res.col_type("ambiguo") == "string"
    assert res.report["columns"][0]["format"] == "dd/mm/yyyy"


def test_day_proven_only_in_a_late_block(run_csv: Run) -> None:
    rows = "".join(f"{i},{1 + i % 12:02d}/01/2024\n" for i in range(3000))
    res = run_csv("id,data\n" + rows + "3000,31/01/2024\n", block_size=4096)
    assert res.col_type("data") == "date"
    assert res.rows[-1]["data"] == dt.date(2024, 1, 31)


def test_leading_zeros_stay_text(run_csv: Run) -> None:
    res = run_csv("codigo,cep,n\n007,01310-100,1\n123,04538-132,2\n")
    assert res.column("codigo") == ["007", "123"]
    assert res.column("cep") == ["01310-100", "04538-132"]
    assert res.col_type("n") == "int"


def test_a_late_text_value_makes_the_column_text(run_csv: Run) -> None:
    rows = "".join(f"{i},{i}\n" for i in range(5000))
    res = run_csv("id,valor\n" + rows + "5000,n/d\n", block_size=4096)
    assert res.col_type("id") == "int"
    assert res.col_type("valor") == "string"
    assert res.rows[0]["valor"] == "0"


def test_grouped_thousands_in_quotes(run_csv: Run) -> None:
    res = run_csv('item,amount\na,"43,774.58"\nb,"1,000"\nc,12.5\n')
    assert res.column("amount") == [43774.58, 1000.0, 12.5]


# --- rows: malformed, empty, duplicates ------------------------------------------------------


def test_malformed_rows_are_reported_with_line_numbers(run_csv: Run) -> None:
    lines = ["a,b,c"] + [f"{i},{i},{i}" for i in range(1, 30)]
    lines[5] = "5,5"  # line 6: one field short
    lines[12] = '12,"multi\nline",12'  # lines 13-14: a valid multi-line row
    lines[20] = "20,20,20,20"  # line 22 after the extra line above
    res = run_csv("\n".join(lines) + "\n")
    assert res.report["rows_malformed"] == 2
    assert [
        (m["line"], m["expected_fields"], m["found_fields"]) for m in res.report["malformed_rows"]
    ] == [
        (6, 3, 2),
        (22, 3, 4),
    ]
    assert res.report["malformed_rows"][1]["text"] == "20,20,20,20"
    # Nothing shifted or padded: every kept row is intact.
    assert all(r["a"] == r["c"] for r in res.rows)
    assert res.report["rows_out"] == 27


def test_malformed_line_numbers_across_blocks(run_csv: Run) -> None:
    records = ["id,text,n"]
    for i in range(1, 4000):
        if i % 500 == 0:
            records.append(f"{i},bad")
        elif i % 7 == 0:
            records.append(f'{i},"two\r\nlines",{i}')  # one record, two lines
        else:
            records.append(f"{i},x,{i}")
    expected, line = [], 1
    for record in records:
        if record.endswith(",bad"):
            expected.append(line)
        line += 1 + record.count("\r\n")
    res = run_csv("\n".join(records) + "\n", block_size=4096)
    assert [m["line"] for m in res.report["malformed_rows"]] == expected
    assert res.report["rows_malformed"] == 7


def test_malformed_line_numbers_below_title_rows(run_csv: Run) -> None:
    lines = ["Relatório", "", '"título em', 'duas linhas"', "id,nome,v"]
    lines += [f"{i},n{i},{i}" for i in range(30)]
    lines[12] = "bad,row"
    res = run_csv("\n".join(lines) + "\n")
    assert res.report["source"]["lines_skipped_before_header"] == 4
    assert [m["line"] for m in res.report["malformed_rows"]] == [13]


def test_blank_lines_and_empty_rows_are_dropped(run_csv: Run) -> None:
    res = run_csv("a,b\n1,2\n\n   \n,\nNA,\n3,4\n\n")
    assert res.rows == [{"a": 1, "b": 2}, {"a": 3, "b": 4}]
    assert res.report["rows_malformed"] == 0
    assert res.report["empty_rows_removed"] == res.report["rows_in"] - 2


def test_duplicates_across_blocks(run_csv: Run) -> None:
    unique = [f"{i},nome {i},{i % 3}" for i in range(3000)]
    lines = unique + unique[::7] + [" " + unique[5] + " "]  # repeats far from the originals
    res = run_csv("id,nome,g\n" + "\n".join(lines) + "\n", block_size=4096, dedupe=True)
    assert res.report["duplicates_removed"] == len(unique[::7]) + 1
    assert res.column("id") == list(range(3000))  # first occurrences, in order
    assert res.parquet.metadata.num_rows == 3000
    assert res.report["steps"]["deduplicate"]["complete"] is True


def test_duplicates_compare_cleaned_values(run_csv: Run) -> None:
    res = run_csv("a,b\nx,1\n  x ,1\nx,NA\nx,\n", dedupe=True)
    assert res.rows == [{"a": "x", "b": 1}, {"a": "x", "b": None}]
    assert res.report["duplicates_removed"] == 2


def test_duplicates_are_counted_and_kept_by_default(run_csv: Run) -> None:
    """Repeated lines may be separate records (two equal payments): kept unless asked."""
    res = run_csv("a,b\nx,1\ny,2\n  x ,1\nx,NA\nx,\nz,3\nx,1\n")
    assert len(res.rows) == 7
    report = res.report
    assert report["duplicates_removed"] == 0
    assert report["duplicates"]["count"] == 3
    assert report["duplicates"]["lines"] == [4, 6, 8]
    first = report["duplicates"]["sample"][0]
    assert (first["line"], first["duplicate_of"]) == (4, 2)
    assert first["text"] == "a='x', b='1'"
    assert report["steps"]["deduplicate"] == {**report["steps"]["deduplicate"], "rows_removed": 0}
    assert report["steps"]["deduplicate"]["duplicates_found"] == 3
    assert any(
        "3 row(s) repeat an earlier row exactly (the first on line 4, a copy of line 2)" in w
        for w in report["warnings"]
    )
    assert report["options"]["dedupe"] is False
    assert report["rows_in"] == report["rows_out"] + report["empty_rows_removed"]


def test_dedup_is_whole_file_even_past_the_memory_budget(run_csv: Run) -> None:
    """With no memory for candidate values, they go to SQLite: still exact."""
    rows = [f"{i},v{i}" for i in range(3000)]
    data = "a,b\n" + "\n".join(rows + rows[::-3] + ["5,v5", "5,other"]) + "\n"
    res = run_csv(data, dedup_memory_bytes=0, block_size=4096, dedupe=True)
    dedupe = res.report["steps"]["deduplicate"]
    assert res.report["duplicates_removed"] == len(rows[::-3]) + 1
    assert dedupe["complete"] is True and dedupe["groups_spilled_to_disk"] > 0
    assert res.column("a") == [*range(3000), 5]
    assert res.rows[-1] == {"a": 5, "b": "other"}


# --- output and report ---------------------------------------------------------------------


def test_row_groups_and_compression(run_csv: Run) -> None:
    res = run_csv(
        "n,s\n" + "".join(f"{i},v{i}\n" for i in range(2500)), row_group_rows=1000, block_size=4096
    )
    meta = res.parquet.metadata
    assert meta.num_rows == 2500
    assert meta.num_row_groups == 3
    assert all(meta.row_group(g).num_rows >= 1000 or g == 2 for g in range(3))
    assert meta.row_group(0).column(0).compression == "ZSTD"


def test_report_contents(run_csv: Run) -> None:
    data = "a,b\n1,x\n1,x\n2\n3,y\n"
    res = run_csv(data, max_reject_ratio=0.5, dedupe=True)
    report = res.report
    assert report["processor_version"]
    assert report["input"] == {
        "bytes": len(data),
        "sha256": hashlib.sha256(data.encode()).hexdigest(),
        "format": "csv",
    }
    assert report["source"]["delimiter"] == ","
    assert report["source"]["header"] == {"present": True, "detected": True, "line": 1}
    assert report["detection"]["delimiter"] == {"value": ",", "confidence": 0.8}
    assert (report["rows_in"], report["rows_out"]) == (4, 2)
    assert (report["rows_rejected"], report["duplicates_removed"]) == (1, 1)
    first, second = report["columns"]
    assert {k: first[k] for k in ("name", "type", "null_count", "min", "max")} == {
        "name": "a",
        "type": "int",
        "null_count": 0,
        "min": 1,
        "max": 3,
    }
    assert first["distinct_estimate"] == 2
    assert second["top_values"] == [{"value": "x", "count": 1}, {"value": "y", "count": 1}]
    assert set(report["durations_s"]) == {"detect", "scan", "dedupe_plan", "write", "total"}
    assert report["rejects"]["sample"] == [
        {
            "line": 4,
            "reason": "wrong number of fields",
            "detail": "expected 2 fields, found 1",
            "expected_fields": 2,
            "found_fields": 1,
            "text": "2",
        }
    ]
    assert (res.out_dir / "rejects.csv").read_text() == (
        'line,reason,detail,raw\n4,wrong number of fields,"expected 2 fields, found 1",2\n'
    )
    steps = report["steps"]
    assert steps["write"]["rows"] == 2 and steps["deduplicate"]["rows_removed"] == 1
    assert report["rows_in"] == (
        report["rows_out"]
        + report["rows_malformed"]
        + report["duplicates_removed"]
        + report["empty_rows_removed"]
        + report["note_rows_skipped"]
    )


def test_header_only_file(run_csv: Run) -> None:
    res = run_csv("a,b")
    assert res.rows == []
    assert [c["type"] for c in res.report["columns"]] == ["string", "string"]


def test_streams_are_opened_fresh_and_never_seeked(run_csv: Run) -> None:
    res = run_csv("a,b\n" + "1,2\n" * 1000, chunk=7)  # tiny short reads, like a network
    assert res.opens == 2  # the sample, then the one parse
    assert len(res.rows) == 1000 and res.report["duplicates"]["count"] == 999


def test_rows_bigger_than_a_block_grow_the_block(run_csv: Run) -> None:
    big = "x" * 20_000
    res = run_csv(f"a,b\n1,{big}\n2,y\n", block_size=4096)
    assert res.column("b") == [big, "y"]
    assert res.report["steps"]["read"]["read_block_bytes"] > 4096


def test_rerun_gives_the_same_output(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("a,b\n1,x\n2,y\n2,y\n")
    out = tmp_path / "out"
    first = process_csv(lambda: src.open("rb"), out)
    second = process_csv(lambda: src.open("rb"), out)
    for report in (first, second):
        report.pop("durations_s")
    assert first == second
    assert sorted(p.name for p in out.iterdir()) == ["data.parquet", "report.json"]


def test_failed_run_leaves_no_partial_parquet(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_bytes(b"a\n" + b"1\n" * 5000 + b"\xff\n")
    with pytest.raises(BadInput):
        process_csv(lambda: src.open("rb"), tmp_path / "out", ProcessOptions(sample_bytes=4096))
    assert list((tmp_path / "out").iterdir()) == []


def test_typed_values_round_trip_through_arrow(run_csv: Run) -> None:
    res = run_csv("n\n9223372036854775807\n-9223372036854775808\n")
    table = pq.read_table(res.out_dir / "data.parquet")
    assert table.schema.field("n").type == pa.int64()
    assert res.column("n") == [2**63 - 1, -(2**63)]
