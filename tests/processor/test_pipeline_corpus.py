"""The pipeline on the shared messy-CSV corpus (read in place, never copied)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from processor.pipeline import BadInput, process_csv
from processor.pipeline.headers import normalise_headers
from tests.corpus import CORPUS, SPECTRUM, as_csv_text, spectrum_cases

DATA_SUFFIXES = {".csv", ".tsv", ".psv", ".ssv"}


def process(path: Path, out: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    report = process_csv(lambda: path.open("rb"), out)
    return report, pq.read_table(out / "data.parquet").to_pylist()


@pytest.mark.parametrize("csv_path", spectrum_cases(), ids=lambda p: p.stem)
def test_csv_spectrum_matches_expected_json(csv_path: Path, tmp_path: Path) -> None:
    """Expected values are strings; ours are typed. Both sides are compared as text:
    typed values through tests.corpus.as_csv_text (null -> "", 1 -> "1", dates ISO),
    expected values trimmed (whitespace trimming is a cleaning step) with "" meaning
    null (it is a null token), and expected keys through the same header normalisation.
    """
    expected = json.loads((SPECTRUM / "json" / f"{csv_path.stem}.json").read_text())
    report, rows = process(csv_path, tmp_path)
    assert report["rows_malformed"] == 0
    assert len(rows) == len(expected)
    for got, want in zip(rows, expected, strict=True):
        keys = normalise_headers(list(want))
        assert list(got) == keys
        assert [as_csv_text(v) for v in got.values()] == [v.strip() for v in want.values()]


def corpus_files() -> list[Path]:
    return sorted(p for p in CORPUS.rglob("*") if p.suffix in DATA_SUFFIXES)


@pytest.mark.parametrize("path", corpus_files(), ids=lambda p: str(p.relative_to(CORPUS)))
def test_every_corpus_file_is_processed_or_refused_clearly(path: Path, tmp_path: Path) -> None:
    """No corpus file may crash the processor: it is cleaned, or refused with BadInput."""
    try:
        report, rows = process(path, tmp_path)
    except BadInput as exc:
        assert str(exc) and "\n" not in str(exc)
        return
    assert len(rows) == report["rows_out"]
    assert report["rows_in"] == (
        report["rows_out"]
        + report["rows_malformed"]
        + report["duplicates_removed"]
        + report["empty_rows_removed"]
    )


def test_utf16_file(tmp_path: Path) -> None:
    report, rows = process(CORPUS / "messytables" / "utf-16le_encoded.csv", tmp_path)
    assert report["source"]["encoding"] == "utf-16-le"
    assert len(rows) == 327


def test_western_european_file(tmp_path: Path) -> None:
    report, rows = process(CORPUS / "messytables" / "spanish_chars.csv", tmp_path)
    assert report["source"]["encoding"] == "cp1252"
    assert any("ó" in str(v) or "í" in str(v) for row in rows for v in row.values())


def test_big5_file_is_refused_with_an_offset(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match=r"not valid UTF-8: byte 0x[0-9a-f]{2} at byte offset \d+"):
        process(CORPUS / "messytables" / "characters.csv", tmp_path)


def test_utf8_bom_header_only(tmp_path: Path) -> None:
    report, rows = process(CORPUS / "messytables" / "utf8bom.csv", tmp_path)
    assert [c["name"] for c in report["columns"]] == ["kitten", "win"]
    assert rows == []


@pytest.mark.parametrize(
    ("name", "delimiter"), [("simple.psv", "|"), ("simple.ssv", ";"), ("example.tsv", "\t")]
)
def test_delimiters(name: str, delimiter: str, tmp_path: Path) -> None:
    report, _ = process(CORPUS / "messytables" / name, tmp_path)
    assert report["source"]["delimiter"] == delimiter


def test_airedale_dates_amounts_and_duplicates(tmp_path: Path) -> None:
    report, rows = process(CORPUS / "clevercsv" / "airedale.csv", tmp_path)
    types = {c["name"]: (c["type"], c["format"]) for c in report["columns"]}
    assert types["payment_date"] == ("date", "dd/mm/yyyy")
    assert types["amount"] == ("float", "1,234.56")
    assert rows[0]["payment_date"] == dt.date(2010, 7, 16)
    assert rows[0]["amount"] == 43774.58
    assert report["duplicates_removed"] == 13  # checked with csv.reader + a set


def test_cr_only_file(tmp_path: Path) -> None:
    report, rows = process(CORPUS / "messytables" / "mixedGLB.csv", tmp_path)
    assert report["source"]["line_endings"] == "CR"
    assert rows[0]["year"] == 1880
