"""The pipeline on the shared messy-CSV corpus (read in place, never copied).

`test_whole_corpus` runs every data file and prints a table (run with ``-s`` to see
it; it is also written to tests/artifacts/corpus-table.txt). Detection is scored
against KNOWN, a table of answers taken from the corpus itself, never from our own
output: the csv-spectrum JSON (header keys, comma-separated), each CSVW test's
metadata (its dialect, defaults included) and test names, and the facts SOURCES.md
states for messytables and CleverCSV files.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from processor.pipeline import BadInput, ProcessOptions, process_csv
from processor.pipeline.headers import normalise_headers
from processor.pipeline.options import DEFAULT_NULL_TOKENS
from processor.pipeline.process import detect
from tests.corpus import CORPUS, SPECTRUM, as_csv_text, spectrum_cases

DATA_SUFFIXES = {".csv", ".tsv", ".psv", ".ssv"}
CSVW = CORPUS / "csvw"
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"

# Codec names as Python spells them; SOURCES.md says "ISO-8859-1/cp1252".
LATIN1 = {"cp1252", "latin-1", "iso8859-1"}


def corpus_files() -> list[Path]:
    """Every data file; INDEX.tsv describes the corpus and is not part of it."""
    return sorted(
        p for p in CORPUS.rglob("*") if p.suffix in DATA_SUFFIXES and p.name != "INDEX.tsv"
    )


def _csvw_known() -> dict[str, dict[str, Any]]:
    """CSVW: the dialect each test's metadata declares (CSVW defaults: comma, header,
    UTF-8), and "no header" for test019, whose expected rows are keyed _col.N."""
    known: dict[str, dict[str, Any]] = {}
    for meta_path in sorted(CSVW.glob("test*-metadata.json")):
        meta = json.loads(meta_path.read_text())
        dialect = meta.get("dialect", {})
        target = meta["url"]
        answer = {
            "encoding": "utf-8",
            "delimiter": dialect.get("delimiter", ","),
            "header": dialect.get("header", True),
        }
        known.setdefault(target, answer)
    for name in ("test002.csv", "test003.csv", "test091.csv", "unicode-nfc.csv"):
        known.setdefault(name, {"encoding": "utf-8", "delimiter": ",", "header": True})
    no_header = json.loads((CSVW / "test019.json").read_text())
    assert "_col.1" in no_header["tables"][0]["row"][0]["describes"][0]
    known["test019.csv"] = {"encoding": "utf-8", "delimiter": ",", "header": False}
    return {f"csvw/{name}": answer for name, answer in known.items()}


def _spectrum_known() -> dict[str, dict[str, Any]]:
    answers = {}
    for path in spectrum_cases():
        expected = json.loads((SPECTRUM / "json" / f"{path.stem}.json").read_text())
        # The expected rows are keyed by the first line: it is a header.
        assert expected and all(isinstance(row, dict) for row in expected)
        answers[str(path.relative_to(CORPUS))] = {
            "encoding": "utf-8",
            "delimiter": ",",
            "header": True,
        }
    return answers


# From SOURCES.md ("What each folder exercises").
SOURCES_FACTS: dict[str, dict[str, Any]] = {
    "messytables/characters.csv": {"encoding": {"big5"}},
    "messytables/spanish_chars.csv": {"encoding": LATIN1},
    "messytables/sparse_with_column_errors.csv": {"encoding": LATIN1},
    "messytables/utf-16le_encoded.csv": {"encoding": {"utf-16-le"}},
    "messytables/utf8bom.csv": {"encoding": {"utf-8"}},
    "messytables/211.csv": {"encoding": {"mac-roman", "mac_roman"}},
    "messytables/simple.psv": {"delimiter": "|"},
    "messytables/simple.ssv": {"delimiter": ";"},
    "messytables/example.tsv": {"delimiter": "\t"},
    "messytables/weird_head_padding.csv": {"delimiter": ";", "header": True},
    "messytables/excel_pasting.csv": {"header": True},
    "messytables/begrotingsanalyse-2011.csv": {"header": True},
    "messytables/mixedGLB.csv": {"header": True},
    "clevercsv/airedale.csv": {"delimiter": ","},
    "clevercsv/milk.csv": {"delimiter": "\t"},
    "clevercsv/imdb.csv": {"encoding": {"utf-8"}},
    "clevercsv/github/ff6197151fe4.csv": {"delimiter": ","},  # padded " , " separators
    "clevercsv/github/ffa3b397f931.csv": {"delimiter": ";"},  # ;-separated tweets
    "clevercsv/github/ff843119aa5c.csv": {"delimiter": "\t"},  # tab, leading empty column
    "clevercsv/github/ff35b00ddd24.csv": {"delimiter": ","},  # RDF triples, not "/"
    "clevercsv/github/ffe14370b4c7.csv": {"delimiter": ","},  # first row all commas
    "clevercsv/github/fffbde3238d4.csv": {"delimiter": ","},  # two stacked tables
}


def known_answers() -> dict[str, dict[str, Any]]:
    known = {**_spectrum_known(), **_csvw_known()}
    for name, facts in SOURCES_FACTS.items():
        known[name] = {**known.get(name, {}), **facts}
    return known


def detection_matches(answer: dict[str, Any], found: dict[str, Any]) -> list[str]:
    """The fields where our detection differs from the known answer."""
    wrong = []
    for key, expected in answer.items():
        value = found.get(key)
        ok = value in expected if isinstance(expected, set) else value == expected
        if not ok:
            wrong.append(f"{key}: {value!r} (expected {expected!r})")
    return wrong


def run(path: Path, out: Path, **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    report = process_csv(lambda: path.open("rb"), out, ProcessOptions(**options))
    return report, pq.read_table(out / "data.parquet").to_pylist()


def test_whole_corpus(tmp_path: Path) -> None:
    known = known_answers()
    assert len(known) >= 40, "the known-answer table lost its sources"
    rows: list[tuple[str, ...]] = []
    scored = wrong = 0
    misses: list[str] = []
    for path in corpus_files():
        name = str(path.relative_to(CORPUS))
        out = tmp_path / name.replace("/", "_")
        found: dict[str, Any] = {}
        try:
            encoding, dialect = detect(lambda p=path: p.open("rb"), ProcessOptions())
            found = {
                "encoding": encoding.encoding,
                "delimiter": "whitespace" if dialect.aligned else dialect.delimiter,
                "header": dialect.has_header,
            }
        except BadInput:
            pass
        try:
            report, data = run(path, out)
        except BadInput as exc:
            message = str(exc)
            assert message and "\n" not in message and "Traceback" not in message
            result = f"failed: {message[:90]}"
        else:
            assert len(data) == report["rows_out"]
            assert report["rows_in"] == (
                report["rows_out"]
                + report["rows_rejected"]
                + report["duplicates_removed"]
                + report["empty_rows_removed"]
                + report["note_rows_skipped"]
            )
            result = f"ready: {report['rows_out']} rows, {report['rows_rejected']} rejected"
        if name in known:
            scored += 1
            diff = detection_matches(known[name], found)
            if diff:
                wrong += 1
                misses.append(f"{name}: {'; '.join(diff)}")
        rows.append(
            (
                name,
                str(found.get("encoding", "-")),
                repr(found.get("delimiter", "-")),
                str(found.get("header", "-")),
                result,
            )
        )
    accuracy = (scored - wrong) / scored
    table = _table(("file", "encoding", "delimiter", "header", "result"), rows)
    summary = f"detection right on {scored - wrong} of {scored} files with a known answer"
    text = f"{table}\n{summary} ({100 * accuracy:.1f}%)\n" + "".join(
        f"  miss: {m}\n" for m in misses
    )
    print("\n" + text)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "corpus-table.txt").write_text(text)
    assert len(rows) >= 80, "the corpus is missing files"
    assert accuracy >= 0.95, text


def _table(header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in [header, *rows]]
    return "\n".join(lines)


# --- expected values ----------------------------------------------------------------


@pytest.mark.parametrize("csv_path", spectrum_cases(), ids=lambda p: p.stem)
def test_csv_spectrum_matches_expected_json(csv_path: Path, tmp_path: Path) -> None:
    """Expected values are strings; ours are typed. Both sides are compared as text:
    typed values through tests.corpus.as_csv_text (null -> "", 1 -> "1", dates ISO),
    expected values trimmed (whitespace trimming is a cleaning step) with "" meaning
    null (it is a null token), and expected keys through the same header normalisation.
    """
    expected = json.loads((SPECTRUM / "json" / f"{csv_path.stem}.json").read_text())
    report, rows = run(csv_path, tmp_path)
    assert report["rows_rejected"] == 0
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        keys = normalise_headers(list(want))
        assert list(got) == keys
        assert [as_csv_text(v) for v in got.values()] == [v.strip() for v in want.values()]


def csvw_cases() -> list[tuple[str, Path, Path, dict[str, Any] | None]]:
    """(test id, csv, expected json, metadata) for every ToJsonTest whose CSV is here."""
    manifest = json.loads((CSVW / "MANIFEST-subset.json").read_text())
    cases = []
    for test in manifest:
        if test["type"] not in ("csvt:ToJsonTest", "csvt:ToJsonTestWithWarnings"):
            continue
        action = CSVW / test["action"]
        meta = json.loads(action.read_text()) if action.suffix == ".json" else None
        data = CSVW / meta["url"] if meta else action
        if data.exists():
            cases.append((test["id"], data, CSVW / test["result"], meta))
    return cases


def _csvw_columns(meta: dict[str, Any] | None, header: list[str]) -> dict[str, int]:
    """Expected JSON key -> column position in the CSV."""
    if meta is None or "tableSchema" not in meta:
        return {h: i for i, h in enumerate(header)}
    columns = meta["tableSchema"]["columns"]
    skip = meta.get("dialect", {}).get("skipColumns", 0)
    return {c.get("name", c.get("titles")): i + skip for i, c in enumerate(columns)}


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _instant(text: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return None


def _same(ours: Any, raw: str, expected: Any) -> bool:
    """Our value is right if it is the CSVW value (typed, where CSVW typed it), or the
    cell's own text read the same way: for a column we kept as text, exactly the
    trimmed text; for a null, one of our null tokens ("NaN" is one)."""
    cell = raw.strip()
    if ours is None:
        return expected is None or cell in DEFAULT_NULL_TOKENS
    if isinstance(ours, str):
        return ours == cell
    if as_csv_text(ours) == cell:
        return True
    if isinstance(ours, bool) or isinstance(expected, bool):
        return ours is expected
    if isinstance(ours, int | float):
        target = expected if isinstance(expected, int | float) else _number(cell)
        return target is not None and math.isclose(float(ours), float(target), rel_tol=1e-12)
    if isinstance(ours, dt.datetime) and isinstance(expected, str):
        theirs = _instant(expected)
        if theirs is None:
            return _same_fields(ours, cell)
        if (ours.tzinfo is None) != (theirs.tzinfo is None):
            return False
        return ours == theirs
    if isinstance(ours, dt.date) and isinstance(expected, str):
        return ours.isoformat() == expected or _same_fields(ours, cell)
    return False


def _same_fields(ours: dt.date, cell: str) -> bool:
    """A date read from "10/18/2010" or "15-3-2015 1502": the cell's numbers, in any
    order of day and month, are the value's (year, month, day, ...) fields."""
    numbers = [int(n) for n in re.findall(r"[0-9]+", cell)]
    if len(numbers) < 3:
        return False
    fields = [ours.year, ours.month, ours.day]
    if isinstance(ours, dt.datetime):
        fields += [ours.hour, ours.minute, ours.second][: len(numbers) - 3]
    date, rest = numbers[:3], numbers[3:]
    orders = ([date[2], date[1], date[0]], [date[2], date[0], date[1]], date)
    return any(order + rest == fields[: len(numbers)] for order in orders)


@pytest.mark.parametrize(
    ("test_id", "data", "result", "meta"),
    csvw_cases(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_csvw_values(
    test_id: str, data: Path, result: Path, meta: dict[str, Any] | None, tmp_path: Path
) -> None:
    expected_rows = [r["describes"][0] for r in json.loads(result.read_text())["tables"][0]["row"]]
    dialect = (meta or {}).get("dialect", {})
    delimiter = dialect.get("delimiter", ",")
    raw_rows = list(
        csv.reader(io.StringIO(data.read_text("utf-8"), newline=""), delimiter=delimiter)
    )
    raw_rows = raw_rows[dialect.get("skipRows", 0) :]
    comment = dialect.get("commentPrefix")
    raw_rows = [
        r
        for r in raw_rows
        if any(c.strip() for c in r) and not (comment and r[0].startswith(comment))
    ]
    has_header = dialect.get("header", True) and test_id != "test019"
    header = raw_rows[0] if has_header else []
    body = raw_rows[1:] if has_header else raw_rows
    # The dialect is the one the test declares (detection is scored separately, in
    # test_whole_corpus); what is checked here is every value.
    options = ProcessOptions(
        delimiter=delimiter,
        no_header=not has_header,
        header_row=dialect.get("skipRows", 0) if has_header and comment is None else None,
    )
    report = process_csv(lambda: data.open("rb"), tmp_path, options)
    rows = pq.read_table(tmp_path / "data.parquet").to_pylist()
    assert len(rows) == len(expected_rows) == len(body)
    positions = _csvw_columns(meta, header) if has_header else {}
    names = [c["name"] for c in report["columns"]]
    differ: set[str] = set()
    for ours, raw, want in zip(rows, body, expected_rows, strict=True):
        values = [ours[n] for n in names]
        for key, position in (positions or {f"_col.{i + 1}": i for i in range(len(raw))}).items():
            if not _same(values[position], raw[position], want.get(key)):
                differ.add(key)
    assert differ == DEVIATIONS.get(test_id, set())


# Where we read the text differently from the CSVW value, on purpose.
DEVIATIONS = {
    # UAX35 fractional grouping ("1.123,456" is 1.123456 in pattern "0.000,###"):
    # without a pattern, a "." group of three digits before a "," reads as pt-BR
    # thousands, 1123.456, which is what such values nearly always are.
    "test285": {"0.000,###", "0.000,0##", "0.000,00#", "0.000,000"},
}


# --- single files ---------------------------------------------------------------------


def test_utf16_file(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "utf-16le_encoded.csv", tmp_path)
    assert report["source"]["encoding"] == "utf-16-le"
    assert len(rows) == 327


def test_western_european_file(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "spanish_chars.csv", tmp_path)
    assert report["source"]["encoding"] == "cp1252"
    assert any("ó" in str(v) or "í" in str(v) for row in rows for v in row.values())


def test_big5_file(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "characters.csv", tmp_path)
    assert report["source"]["encoding"] == "big5"
    assert len(rows) == report["rows_out"] > 300
    text = (CORPUS / "messytables" / "characters.csv").read_bytes().decode("big5")
    first_cells = next(csv.reader(io.StringIO(text)))
    assert [c["original_name"] for c in report["columns"]][:3] == first_cells[:3]


def test_mac_roman_file(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "211.csv", tmp_path)
    assert report["source"]["encoding"] == "mac_roman"
    # The mojibake is in the source (UTF-8 read as cp1252, saved as Mac Roman): kept.
    assert any("George\u00e2\u20ac\u2122s" in str(v) for row in rows for v in row.values())


def test_utf8_bom_header_only(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "utf8bom.csv", tmp_path)
    assert [c["name"] for c in report["columns"]] == ["kitten", "win"]
    assert rows == []


@pytest.mark.parametrize(
    ("name", "delimiter"), [("simple.psv", "|"), ("simple.ssv", ";"), ("example.tsv", "\t")]
)
def test_delimiters(name: str, delimiter: str, tmp_path: Path) -> None:
    report, _ = run(CORPUS / "messytables" / name, tmp_path)
    assert report["source"]["delimiter"] == delimiter


def test_airedale_dates_amounts_and_duplicates(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "clevercsv" / "airedale.csv", tmp_path)
    types = {c["name"]: (c["type"], c["format"]) for c in report["columns"]}
    assert types["payment_date"] == ("date", "dd/mm/yyyy")
    assert types["amount"] == ("float", "1,234.56")
    assert rows[0]["payment_date"] == dt.date(2010, 7, 16)
    assert rows[0]["amount"] == 43774.58
    # 55 records: one empty, 54 rows, 13 of them repeat an earlier line exactly (checked
    # with csv.reader + a set). They may be separate payments: kept unless asked.
    assert (report["rows_in"], report["rows_out"], report["empty_rows_removed"]) == (55, 54, 1)
    assert report["duplicates"]["count"] == 13 and report["duplicates_removed"] == 0
    assert report["duplicates"]["lines"][:4] == [3, 5, 7, 9]
    assert report["duplicates"]["sample"][0]["duplicate_of"] == 2
    assert sum(r["amount"] for r in rows if r["amount"] is not None) == pytest.approx(
        sum(float(v) for v in amounts(CORPUS / "clevercsv" / "airedale.csv"))
    )
    deduped, rows = run(CORPUS / "clevercsv" / "airedale.csv", tmp_path / "dedupe", dedupe=True)
    assert (deduped["rows_out"], deduped["duplicates_removed"]) == (41, 13)
    assert len(rows) == 41 and deduped["options"]["dedupe"] is True


def amounts(path: Path) -> list[str]:
    """The file's amount column as csv.reader sees it (commas of thousands dropped)."""
    with path.open(newline="", encoding="utf-8") as fh:
        table = [r for r in csv.reader(fh) if any(c.strip() for c in r)]
    index = [h.strip().lower() for h in table[0]].index("amount")
    return [r[index].replace(",", "") for r in table[1:] if r[index].strip()]


def test_cr_only_file(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "mixedGLB.csv", tmp_path)
    assert report["source"]["line_endings"] == "CR"
    assert rows[0]["year"] == 1880


def test_footnotes_below_the_table_are_notes_not_rejects(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "weird_head_padding.csv", tmp_path)
    assert report["rows_rejected"] == 0
    # 16 lines below the table: 10 of notes, and 6 rule lines of stars, which are
    # blanked like every rule line and so counted among the empty rows.
    assert report["source"]["note_lines_skipped_after_table"] == 10
    assert report["detection"]["preamble"]["lines_skipped"] == 11
    assert report["source"]["lines_skipped_before_header"] == 11
    assert len(rows) == 60


def test_padded_separators_before_quotes(tmp_path: Path) -> None:
    report, rows = run(CORPUS / "messytables" / "complex.csv", tmp_path)
    assert report["source"]["space_before_quotes_removed"] is True
    assert report["rows_rejected"] == 0
    assert rows[2]["temperature"] == 6_000_000


def test_ragged_csvw_file_fails_with_the_rejects_kept(tmp_path: Path) -> None:
    """test091 is CSVW's negative test for ragged rows: it fails, and says why."""
    with pytest.raises(BadInput, match=r"2 of 3 rows .*wrong number of fields: 2.* line 3"):
        run(CSVW / "test091.csv", tmp_path)
    assert (tmp_path / "rejects.csv").read_text().count("\n") == 3
