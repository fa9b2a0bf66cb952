"""The inputs partners send (processor/inputs/), each through the one CSV pipeline:
workbooks made here (tests/workbooks.py), compressed corpus files read in place,
JSON and NDJSON, a zip bomb made on the fly."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
import json
import subprocess
import sys
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from processor.pipeline import BadInput, ProcessOptions, process_csv
from tests.corpus import CORPUS
from tests.processor.conftest import Result
from tests.processor.test_corpus_extra import CACHE, _download, _extract
from tests.workbooks import Cell, ods, xls, xlsx

Run = Callable[..., Result]
MIB = 1024 * 1024

SALES: list[list[Cell]] = [
    ["id", "name", "amount", "day", "paid", "at"],
    [1, "Ana", 10, dt.date(2024, 1, 2), True, dt.datetime(2024, 1, 2, 3, 4, 5)],
    [2, "Bia\nSilva", 2.5, dt.date(2024, 2, 3), False, None],
    [3, "Caio", 0.1, dt.date(2024, 3, 4), True, dt.datetime(2024, 3, 4, 0, 0, 1)],
    [1, "Ana", 10, dt.date(2024, 1, 2), True, dt.datetime(2024, 1, 2, 3, 4, 5)],
    [4, None, 12345678901, dt.date(2024, 4, 5), False, None],
]
NOTES = [["This workbook's data is on the sheet Sales"]]


def rejects_of(res: Result) -> list[dict[str, str]]:
    path = res.out_dir / "rejects.csv"
    if not path.exists():
        return []
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


# --- workbooks ----------------------------------------------------------------------------


def check_sales(res: Result, first_row: int) -> None:
    assert res.rows[0] == {
        "id": 1,
        "name": "Ana",
        "amount": 10.0,
        "day": dt.date(2024, 1, 2),
        "paid": True,
        "at": dt.datetime(2024, 1, 2, 3, 4, 5),
    }
    # Line breaks inside a cell stay; integral numbers are not read as "10.0" text.
    assert res.column("name") == ["Ana", "Bia\nSilva", "Caio", "Ana", None]
    assert res.column("amount") == [10, 2.5, 0.1, 10, 12345678901]
    assert res.col_type("id") == "int" and res.col_type("day") == "date"
    assert res.col_type("paid") == "bool" and res.col_type("at") == "timestamp"
    # The duplicate (the sheet's 5th data row) and the row it repeats, as sheet rows,
    # though the cell above it holds a line break.
    duplicates = res.report["duplicates"]
    assert duplicates["count"] == 1
    assert duplicates["lines"] == [first_row + 4]
    assert res.report["rows_in"] == 5 and res.report["rows_rejected"] == 0


def test_xlsx_sheet_by_name_with_sheet_row_numbers(run_csv: Run) -> None:
    data = xlsx({"Notes": NOTES, "Sales": SALES}, first_row=3)
    res = run_csv(data, sheet="Sales")
    check_sales(res, first_row=3)
    facts = res.report["input"]
    assert facts["format"] == "xlsx"
    assert (facts["sheet"], facts["sheets"]) == ("Sales", ["Notes", "Sales"])
    assert facts["first_row"] == 3 and facts["line_numbers"] == "sheet row numbers"
    # By position too (from 1); without a choice the first sheet is read.
    assert run_csv(data, sheet="2").rows == res.rows
    assert run_csv(data).report["input"]["sheet"] == "Notes"


def test_ods_reads_as_the_xlsx_does(run_csv: Run) -> None:
    a = run_csv(ods({"Sales": SALES}))
    b = run_csv(xlsx({"Sales": SALES}))
    check_sales(a, first_row=1)
    assert a.rows == b.rows
    assert a.report["input"]["format"] == "ods" and b.report["input"]["format"] == "xlsx"
    assert [c["type"] for c in a.report["columns"]] == [c["type"] for c in b.report["columns"]]


def test_xls_reads_as_the_xlsx_does(run_csv: Run) -> None:
    # Dates need the format records this hand-made xls leaves out.
    rows = [row[:3] + row[4:5] for row in SALES]
    old = run_csv(xls("Sales", rows))
    new = run_csv(xlsx({"Sales": rows}))
    assert old.rows == new.rows
    assert old.column("amount") == [10, 2.5, 0.1, 10, 12345678901]
    assert old.column("name")[1] == "Bia\nSilva"
    assert old.report["input"]["format"] == "xls"
    assert old.report["input"]["sheets"] == ["Sales"]
    assert old.report["duplicates"]["lines"] == [5]


def test_other_ole_documents_fail_as_unreadable(run_csv: Run) -> None:
    data = bytearray(xls("Sales", SALES[:1]))
    data[1536:1540] = b"\x00\x00\x00\x00"  # the Workbook stream's first record
    with pytest.raises(BadInput, match="xls workbook cannot be read"):
        run_csv(bytes(data))


@pytest.fixture(scope="module")
def csvkit_examples() -> Path:
    """Real public workbooks: csvkit 2.0.1's examples, from the sdist the corpus-extra
    test caches (downloaded when missing; skipped without network and cache)."""
    folder = CACHE / "csvkit-2.0.1"
    try:
        archive = _download("csvkit", "2.0.1", folder)
    except (subprocess.SubprocessError, OSError, StopIteration) as exc:
        pytest.skip(f"cannot download csvkit==2.0.1 (no network?): {exc}")
    names = ("test_skip_lines.xlsx", "test_skip_lines.xls", "sheets.xlsx")
    _extract(archive, [f"csvkit-2.0.1/examples/{n}" for n in names], folder / "files")
    return folder / "files" / "csvkit-2.0.1" / "examples"


def test_real_xlsx_and_xls_from_csvkit(csvkit_examples: Path, run_csv: Run) -> None:
    new = run_csv((csvkit_examples / "test_skip_lines.xlsx").read_bytes())
    old = run_csv((csvkit_examples / "test_skip_lines.xls").read_bytes())
    assert new.rows == old.rows
    assert [(c["name"], c["type"]) for c in new.report["columns"]] == [
        ("text", "string"),
        ("date", "date"),
        ("integer", "int"),
        ("boolean", "bool"),
        ("float", "float"),
        ("datetime", "timestamp"),
        ("column_8", "string"),
    ]
    assert new.rows[0]["text"] == "Chicago Reader"
    assert (new.rows[0]["date"], new.rows[0]["integer"]) == (dt.date(1971, 1, 1), 40)
    assert new.rows[2]["float"] == 41800000.01
    # The table starts on the sheet's 4th row: the report says so.
    assert new.report["source"]["header"]["line"] == 4
    assert (new.report["input"]["first_row"], old.report["input"]["format"]) == (4, "xls")
    sheets = run_csv((csvkit_examples / "sheets.xlsx").read_bytes(), sheet="data")
    assert sheets.report["input"]["sheets"] == ["not this one", "data", "ʤ"]
    assert sheets.column("text")[0] == "Chicago Reader"


def test_a_title_row_above_the_table_is_found_as_in_a_csv(run_csv: Run) -> None:
    res = run_csv(xlsx({"Sales": [["Sales 2024, all shops"], [], *SALES]}))
    assert res.column("id") == [1, 2, 3, 1, 4]
    assert res.report["source"]["title_rows"]


def test_unknown_sheet_names_the_sheets(tmp_path: Path) -> None:
    src = tmp_path / "book.xlsx"
    src.write_bytes(xlsx({"Notes": NOTES, "Sales": SALES}))
    with pytest.raises(BadInput, match=r"no sheet 'Orders'; its sheets are 'Notes', 'Sales'"):
        process_csv(lambda: src.open("rb"), tmp_path / "out", ProcessOptions(sheet="Orders"))
    assert not (tmp_path / "out" / "data.parquet").exists()


def test_an_empty_sheet_fails_clearly(run_csv: Run) -> None:
    with pytest.raises(BadInput, match="sheet 'Empty' is empty"):
        run_csv(xlsx({"Empty": []}))


def test_a_damaged_workbook_fails_clearly(run_csv: Run) -> None:
    data = bytearray(xlsx({"Sales": SALES}))
    cut = bytes(data[: len(data) // 2])
    with pytest.raises(BadInput, match=r"(?i)zip|workbook"):
        run_csv(cut)


def test_other_office_documents_are_refused(run_csv: Run) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("word/document.xml", "<w:document/>")
    with pytest.raises(BadInput, match="Office document"):
        run_csv(out.getvalue())


# --- compressed CSV ------------------------------------------------------------------------

CORPUS_FILES = [
    "clevercsv/github/fe8e89c66ba6.csv",
    "clevercsv/airedale.csv",
    "clevercsv/github/fd9e666fc430.csv",
]


def zipped(name: str, data: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(name, data)
    return out.getvalue()


@pytest.mark.parametrize("name", CORPUS_FILES)
def test_gzip_and_zip_give_the_same_parquet_as_the_csv(name: str, run_csv: Run) -> None:
    path = CORPUS / name
    if not path.exists():
        pytest.skip(f"{path} is not in the shared corpus")
    data = path.read_bytes()
    plain = run_csv(data)
    buffer = io.BytesIO()
    with gzip.GzipFile(filename=path.name, mode="wb", fileobj=buffer) as gz:
        gz.write(data)
    for packed, kind in ((buffer.getvalue(), "gzip"), (zipped(path.name, data), "zip")):
        res = run_csv(packed, chunk=4096)
        assert pq.read_table(res.out_dir / "data.parquet").equals(
            pq.read_table(plain.out_dir / "data.parquet")
        )
        assert res.report["columns"] == plain.report["columns"]
        assert res.report["rows_rejected"] == plain.report["rows_rejected"]
        assert res.report["input"] == {
            **plain.report["input"],
            "format": kind,
            "member": path.name,
            "content": "csv",
            "decompressed_bytes": len(data),
        }


def test_a_zip_with_two_files_names_them(run_csv: Run) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("jan.csv", "a,b\n1,2\n")
        z.writestr("feb.csv", "a,b\n3,4\n")
    with pytest.raises(BadInput, match=r"holds 2 files \('jan.csv', 'feb.csv'\)"):
        run_csv(out.getvalue())


def test_the_metadata_a_mac_adds_to_a_zip_is_not_a_second_file(run_csv: Run) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("sales/", "")
        z.writestr("sales/jan.csv", "a,b\n1,2\n")
        z.writestr("__MACOSX/sales/._jan.csv", b"\x00\x05\x16\x07" + b"\x00" * 60)
    res = run_csv(out.getvalue())
    assert res.rows == [{"a": 1, "b": 2}]
    assert res.report["input"]["member"] == "sales/jan.csv"
    assert res.report["input"]["ignored_members"] == ["__MACOSX/sales/._jan.csv"]


def test_a_compressed_pdf_is_still_not_csv(run_csv: Run) -> None:
    with pytest.raises(BadInput, match="PDF"):
        run_csv(gzip.compress(b"%PDF-1.7\n" + b"\x00" * 100))


def bomb_chunks(total: int) -> Iterator[bytes]:
    """A gzip file of ``total`` bytes of CSV once decompressed: one member of 64 MiB
    compressed once, repeated (gzip readers go on through concatenated members)."""
    yield gzip.compress(b"a,b\n")
    member = gzip.compress(b"1,2\n" * (16 * MIB), compresslevel=9)
    for _ in range(total // (64 * MIB)):
        yield member


BOMB_SCRIPT = """
import sys
from pathlib import Path
from processor.pipeline import BadInput, ProcessOptions, process_csv
src, out, cap = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3])
try:
    process_csv(lambda: src.open("rb"), out, ProcessOptions(max_decompressed_bytes=cap))
except BadInput as exc:
    print(exc)
    # VmHWM is this process's own peak: ru_maxrss survives execve, so it would carry
    # the RSS pytest had when it forked this child.
    hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM:")][0]
    print("peak-kib", hwm.split()[1])
    sys.exit(3)
"""


def test_a_gzip_bomb_stops_at_the_cap(tmp_path: Path) -> None:
    src = tmp_path / "bomb.csv.gz"
    with src.open("wb") as fh:
        for chunk in bomb_chunks(4 * 1024 * MIB):  # 4 GiB once decompressed
            fh.write(chunk)
    assert src.stat().st_size < 16 * MIB
    out = tmp_path / "out"
    done = subprocess.run(
        [sys.executable, "-c", BOMB_SCRIPT, str(src), str(out), str(8 * MIB)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert done.returncode == 3, done.stderr
    assert "decompresses to more than 8388608 bytes" in done.stdout
    assert "MINI_PROCESSOR__MAX_DECOMPRESSED_BYTES" in done.stdout
    assert not out.exists() or list(out.iterdir()) == []
    # The child's own peak memory (KiB), far below the 4 GiB it would unpack to.
    # (RUSAGE_CHILDREN would be the largest child pytest ever waited for.)
    peak = int(done.stdout.split("peak-kib", 1)[1].split()[0])
    assert peak < 1024 * 1024, peak


def test_a_zip_that_declares_too_much_fails_before_reading(run_csv: Run) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z, z.open("big.csv", "w") as member:
        member.write(b"a,b\n")
        for _ in range(64):
            member.write(b"1,2\n" * (MIB // 4))
    with pytest.raises(BadInput, match="decompresses to more than"):
        run_csv(out.getvalue(), max_decompressed_bytes=8 * MIB)


# --- JSON and NDJSON ----------------------------------------------------------------------------


def test_json_array_nested_objects_arrays_and_collisions(run_csv: Run) -> None:
    rows = [
        {"id": 1, "customer": {"name": "Ana", "address": {"city": "Recife"}}, "tags": ["a", "b"]},
        {"id": 2, "customer": {"name": "Bia"}, "customer.name": "B. Silva", "extra": None},
        {"id": 3, "price": 1.25, "paid": True, "tags": [], "meta": {}},
    ]
    res = run_csv(json.dumps(rows, indent=2))
    assert [(c["name"], c["original_name"]) for c in res.report["columns"]] == [
        ("id", "id"),
        ("customer_name", "customer.name"),
        ("customer_address_city", "customer.address.city"),
        ("tags", "tags"),
        ("customer_name_2", "customer.name"),
        ("price", "price"),
        ("paid", "paid"),
        ("meta", "meta"),
    ]
    assert res.rows[0]["customer_address_city"] == "Recife"
    # Arrays stay as their JSON text; neither colliding value overwrote the other.
    assert res.column("tags") == ['["a","b"]', None, "[]"]
    assert (res.rows[1]["customer_name"], res.rows[1]["customer_name_2"]) == ("Bia", "B. Silva")
    assert res.col_type("price") == "float" and res.col_type("paid") == "bool"
    facts = res.report["input"]
    assert facts["format"] == "json" and "dotted names" in facts["flattening"]
    assert facts["json_text_columns"] == ["tags", "meta"]
    assert facts["collisions"] == [
        {"name": "customer.name", "keys": [["customer", "name"], ["customer.name"]]}
    ]
    assert facts["objects"] == 3


def test_ndjson_bad_lines_are_rejected_with_their_line(run_csv: Run) -> None:
    lines = [json.dumps({"id": i, "v": f"x{i}"}) for i in range(1, 40)]
    lines[4] = '{"id": 5, "v": '  # cut short
    lines[9] = "[1, 2]"
    lines[14] = '{"id": 15, "id": 16}'
    lines.insert(20, "")
    res = run_csv("\n".join(lines) + "\n")
    assert [(r["line"], r["reason"]) for r in rejects_of(res)] == [
        ("5", "invalid JSON"),
        ("10", "not a JSON object"),
        ("15", "key repeated in an object"),
    ]
    assert rejects_of(res)[0]["raw"] == '{"id": 5, "v": '
    assert res.report["rows_rejected"] == 3
    assert res.report["rows_in"] == 39 and res.report["rows_out"] == 36
    assert res.report["input"]["format"] == "ndjson"


def test_json_lines_reach_the_report(run_csv: Run) -> None:
    items = [{"n": i, "when": "2024-01-02"} for i in range(30)]
    items[25] = {"n": 25, "when": "2024-01-02", "pad": "x\ny"}
    items.append(items[3])
    text = json.dumps(items, indent=2)
    res = run_csv(text)
    # The duplicate's line is the line its object starts on in the file (each object
    # spans 4 lines here; a value with a line break above it changes nothing).
    starts = [i + 1 for i, t in enumerate(text.splitlines()) if t == "  {"]
    assert len(starts) == 31
    assert res.report["duplicates"]["lines"] == [starts[-1]]
    assert res.report["input"]["line_numbers"].startswith("lines of the file")


def test_a_json_array_with_a_syntax_error_fails_at_its_line(run_csv: Run) -> None:
    text = '[\n  {"a": 1},\n  {"a": 2},\n  {"a": 3,, }\n]\n'
    with pytest.raises(BadInput, match="not valid at line 4"):
        run_csv(text)


def test_a_json_array_element_that_is_not_an_object_is_rejected(run_csv: Run) -> None:
    text = "[\n" + ",\n".join([*(json.dumps({"a": i}) for i in range(20)), '"oops"']) + "\n]"
    res = run_csv(text)
    assert [(r["line"], r["reason"]) for r in rejects_of(res)] == [("22", "not a JSON object")]
    assert res.column("a") == list(range(20))


def test_a_single_json_object_is_refused(run_csv: Run) -> None:
    with pytest.raises(BadInput, match="this file is a JSON object"):
        run_csv('{\n  "rows": [{"a": 1}]\n}\n')
    # One object on one line is NDJSON of one row.
    assert run_csv('{"a": 1, "b": "x"}\n').rows == [{"a": 1, "b": "x"}]


def test_gzipped_ndjson(run_csv: Run) -> None:
    data = "".join(json.dumps({"id": i, "ok": i % 2 == 0}) + "\n" for i in range(100))
    res = run_csv(gzip.compress(data.encode()))
    assert res.column("id") == list(range(100))
    facts = res.report["input"]
    assert (facts["format"], facts["content"]) == ("gzip", "ndjson")
    assert facts["decompressed_bytes"] == len(data)


def test_a_gzip_cut_short_fails_and_writes_nothing(tmp_path: Path) -> None:
    rows = "".join(f"{i * 7919 % 100003},{i}\n" for i in range(50_000))
    packed = gzip.compress(("a,b\n" + rows).encode())
    src = tmp_path / "cut.csv.gz"
    src.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(BadInput, match="this gzip file is damaged or cut short"):
        process_csv(lambda: src.open("rb"), tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []
