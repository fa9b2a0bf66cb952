"""Unit tests of the pure pipeline steps."""

from __future__ import annotations

import codecs
import datetime as dt
import decimal
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from processor.pipeline import BadInput, ProcessOptions, dedup
from processor.pipeline.cleaning import (
    CleanCounts,
    all_null_rows,
    clean_column,
    clean_columns,
    nullify,
    set_nulls,
    token_set,
    trim,
)
from processor.pipeline.convert import arrow_type, convert
from processor.pipeline.dialect import (
    detect_delimiter,
    detect_dialect,
    detect_header,
    preamble_length,
)
from processor.pipeline.encoding import EncodingInfo, Utf8Stream, detect_encoding
from processor.pipeline.headers import normalise_headers, snake_case
from processor.pipeline.infer import (
    ColumnStats,
    ColumnType,
    Kind,
    accumulate,
    counterexamples,
    decide_type,
    is_float_batch,
    is_int_batch,
    type_notes,
)
from processor.pipeline.options import DEFAULT_NULL_TOKENS
from processor.pipeline.reader import line_breaks_per_row, total_line_breaks
from processor.pipeline.rowhash import (
    DistinctEstimate,
    row_hashes,
    value_hashes,
)
from processor.pipeline.version import processor_version

# --- headers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Nome do Cliente", "nome_do_cliente"),
        ("  Preço Unitário (R$) ", "preço_unitário_brl"),
        ("ClientID", "client_id"),
        ("HTTPResponseCode", "http_response_code"),
        ("já-foi_pago?", "já_foi_pago"),
        # Every letter and digit stays, in any script (NFC, lower case).
        ("Straße", "straße"),
        ("Größe (cm)", "größe_cm"),
        ("Łódź", "łódź"),
        ("Ø Durchmesser", "ø_durchmesser"),
        ("景點分類代碼1", "景點分類代碼1"),
        ("日本", "日本"),
        ("Gro\u0308\u00dfe", "größe"),  # NFD in, NFC out
        ("ΣΥΝΟΛΟ Τιμή", "συνολο_τιμή"),
        # Symbols with a name become that name.
        ("%", "pct"),
        ("Growth %", "growth_pct"),
        ("Item #", "item_no"),
        ("###", "no"),
        ("Amount (€)", "amount_eur"),
        ("Price $", "price_usd"),
        ("R&D", "r_and_d"),
        ("", ""),
        ("(--)", ""),
    ],
)
def test_snake_case(raw: str, expected: str) -> None:
    assert snake_case(raw) == expected


def test_normalise_headers_blank_and_duplicates() -> None:
    names = ["a", "A", "", "a_2", "Nome", "nome", "###"]
    assert normalise_headers(names) == ["a", "a_3", "column_3", "a_2", "nome", "nome_2", "no"]


def test_normalise_headers_output_is_unique_and_lower_case() -> None:
    names = ["x"] * 5 + ["x_2", "x_3", "", "", "Straße", "STRASSE", "%", "%"]
    out = normalise_headers(names)
    assert len(set(out)) == len(out)
    assert all(n == n.lower() and "__" not in n for n in out)
    assert out[-4:] == ["straße", "strasse", "pct", "pct_2"]


def test_normalise_headers_big5_chinese_names_are_kept() -> None:
    names = ["編號", "景點名稱", "景點分類代碼1", "景點分類代碼2", "地址"]
    assert normalise_headers(names) == names


# --- cleaning --------------------------------------------------------------------


def test_trim_ascii_and_unicode_whitespace() -> None:
    assert trim(pa.array(["  a ", "\tb\t", "c"])).to_pylist() == ["a", "b", "c"]
    assert trim(pa.array(["\u00a0São Paulo\u3000", " x"])).to_pylist() == ["São Paulo", "x"]


def test_trim_keeps_inner_whitespace_and_nulls() -> None:
    assert trim(pa.array([" a  b ", None])).to_pylist() == ["a  b", None]


def test_trim_counts_the_values_it_changes() -> None:
    before = pa.array([" a", "b", "c ", "d", None])
    out, trimmed, nulled = clean_column(before, token_set([]))
    assert (out.to_pylist(), trimmed, nulled) == (["a", "b", "c", "d", None], 2, 0)
    sliced = pa.array(["x", " y ", None, "z\t"]).slice(1)
    assert trim(sliced).to_pylist() == ["y", None, "z"]


def test_nullify_default_tokens() -> None:
    tokens = token_set(DEFAULT_NULL_TOKENS)
    values = pa.array(["", "NA", "N/A", "null", "NULL", "None", "-", "nan", "na", "ok", None])
    assert nullify(values, tokens).to_pylist() == [None] * 8 + ["na", "ok", None]


def test_nullify_is_exact_and_case_sensitive() -> None:
    tokens = token_set(("NA",))
    assert nullify(pa.array(["NA", "na", "NAN", " NA"]), tokens).to_pylist() == [
        None,
        "na",
        "NAN",
        " NA",
    ]


def test_nullify_without_short_values_returns_same_array() -> None:
    values = pa.array(["long value", "another one"])
    assert nullify(values, token_set(DEFAULT_NULL_TOKENS)) is values


def test_set_nulls_shares_buffers() -> None:
    values = pa.array(["a", "b", "c"])
    out = set_nulls(values, pa.array([False, True, False]))
    assert out.to_pylist() == ["a", None, "c"]
    assert out.buffers()[2].address == values.buffers()[2].address


def test_all_null_rows() -> None:
    a = pa.array([None, "x", None])
    b = pa.array([None, None, "y"])
    mask = all_null_rows([a, b])
    assert mask is not None
    assert mask.to_pylist() == [True, False, False]
    assert all_null_rows([pa.array(["x"]), pa.array([None])]) is None


def test_line_breaks_per_row() -> None:
    cols = [pa.array(["a\r\nb", "c", "d\re\nf"]), pa.array(["x\n", "", "y"])]
    assert line_breaks_per_row(cols, 3).tolist() == [2, 0, 2]
    assert total_line_breaks(cols) == 4


def test_clean_column_counts_and_skips_work_it_does_not_need() -> None:
    tokens = token_set(DEFAULT_NULL_TOKENS)
    untouched = pa.array(["alpha", "beta", "12345"])
    assert clean_column(untouched, tokens) == (untouched, 0, 0)
    assert clean_column(untouched, tokens)[0] is untouched
    out, trimmed, nulled = clean_column(pa.array([" a ", "NA", "b\u00a0", "-", "c"]), tokens)
    assert out.to_pylist() == ["a", None, "b", None, "c"]
    assert (trimmed, nulled) == (2, 2)
    counts = CleanCounts.for_tokens(DEFAULT_NULL_TOKENS)
    assert clean_columns([pa.array([" x"]), pa.array(["NA"])], counts)[1].null_count == 1
    assert (counts.values_trimmed, counts.values_nulled) == (1, 1)


def test_leading_zeros_keep_numbers_text() -> None:
    for text in ("007", "-01", "01310-100", "00.5"):
        values = pa.array([text])
        assert not is_int_batch(values) and not is_float_batch(values), text
    assert is_int_batch(pa.array(["0", "-0", "10"]))
    assert is_float_batch(pa.array(["0", "0.5", "-0", "-0.25", "10"]))


# --- type inference ----------------------------------------------------------------


def infer(*batches: Sequence[str | None], hint: bool = False) -> ColumnType:
    stats = ColumnStats()
    tokens = token_set(DEFAULT_NULL_TOKENS)
    for batch in batches:
        accumulate(stats, nullify(trim(pa.array(batch, pa.string())), tokens))
    return decide_type(stats, decimal_comma_hint=hint)


@pytest.mark.parametrize(
    ("values", "kind", "fmt"),
    [
        (["1", "-2", "30", None], Kind.INT, "plain"),
        (["0", "1", "1", "0"], Kind.INT, "plain"),
        (["1", "2.5", "-3e2", ".5"], Kind.FLOAT, "plain"),
        (["1,234.50", "12.5", "7"], Kind.FLOAT, "grouped"),
        (["1.234,56", "12,5", "7"], Kind.FLOAT, "decimal_comma"),
        (["true", "False", "TRUE"], Kind.BOOL, ""),
        (["sim", "não", "Nao", "SIM"], Kind.BOOL, ""),
        (["S", "N", "s"], Kind.BOOL, ""),
        (["yes", "no"], Kind.BOOL, ""),
        (["2023-01-31", "2024-02-29"], Kind.DATE, "iso"),
        (["01/02/2023", "13/02/2023"], Kind.DATE, "dmy/"),
        (["02/13/2023", "01/02/2023"], Kind.DATE, "mdy/"),
        (["31.12.2020", "1.1.2021"], Kind.DATE, "dmy."),
        (["2023-01-31T10:00:00", "2023-02-01 11:30"], Kind.TIMESTAMP, "naive"),
        (["2023-01-31", "2023-02-01T11:30:00.123456"], Kind.TIMESTAMP, "naive"),
        (["2023-01-31T10:00:00Z", "2023-02-01T11:30:00-03:00"], Kind.TIMESTAMP, "utc"),
        ([None, "", "NA"], Kind.STRING, ""),
    ],
)
def test_infer_types(values: list[str | None], kind: Kind, fmt: str) -> None:
    assert infer(values) == ColumnType(kind, fmt)


@pytest.mark.parametrize(
    "values",
    [
        ["007", "1", "2"],  # leading zeros: identifiers
        ["01310-100", "04538-132"],  # CEP
        ["00.5", "1.5"],
        ["+5", "6"],
        ["12345678901234567890"],  # does not fit int64
        ["inf", "1.5"],
        ["1e999", "1.5"],  # would become infinity
        ["01/02/2023", "02/03/2023"],  # day and month cannot be told apart
        ["2023-02-30"],
        ["2023-01-31T10:00:00Z", "2023-01-31T10:00:00"],  # offset and local mixed
        ["12,5", "1.5"],  # decimal comma and decimal point mixed
        ["0x10"],
        ["1", "maybe"],
        ["12,5%", "1.5%"],  # percent with both decimal marks
        ["12%", "7"],  # a percentage among plain numbers
        ["1,23,456"],  # Indian grouping is not thousands grouping
    ],
)
def test_infer_stays_text(values: list[str]) -> None:
    assert infer(values).kind is Kind.STRING


def test_infer_uses_every_batch_not_just_the_first() -> None:
    assert infer(["1", "2"], ["3"], ["x"]).kind is Kind.STRING
    assert infer(["1", "2"], ["3.5"]).kind is Kind.FLOAT
    assert infer(["2023-01-01"], ["2023-01-01 10:00"]).kind is Kind.TIMESTAMP
    assert infer(["1/2/2023"], ["25/2/2023"]) == ColumnType(Kind.DATE, "dmy/")
    assert infer(["1.5"], ["1,234.5"]) == ColumnType(Kind.FLOAT, "grouped")


def test_infer_ambiguous_thousands_uses_delimiter_hint() -> None:
    assert infer(["1,234", "5,678"], hint=True) == ColumnType(Kind.FLOAT, "decimal_comma")
    assert infer(["1,234", "5,678"], hint=False) == ColumnType(Kind.INT, "grouped")
    assert infer(["1,234", "5,678.5"], hint=True) == ColumnType(Kind.FLOAT, "grouped")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["12.5%", "-3%", "100 %"], ColumnType(Kind.FLOAT, "percent", scale=1)),
        (["12,5%", "7%"], ColumnType(Kind.FLOAT, "percent_comma", scale=1)),
        (["1,234", "-12,000,000", "7"], ColumnType(Kind.INT, "grouped")),
        (["true", "false", "1", "0"], ColumnType(Kind.BOOL)),
        (["0", "1", "1"], ColumnType(Kind.INT, "plain")),
        (
            ["15/03/2015 14:30", "1/2/2020 9:05:59"],
            ColumnType(Kind.TIMESTAMP, "dmy/ time"),
        ),
        (
            ["0.12345678901234567", "12.5"],
            ColumnType(Kind.DECIMAL, "plain", precision=32, scale=17),
        ),
        (
            ["1.234.567.890.123,456789", "1,5"],
            ColumnType(Kind.DECIMAL, "decimal_comma", precision=21, scale=6),
        ),
    ],
)
def test_infer_more_types(values: list[str], expected: ColumnType) -> None:
    assert infer(values) == expected


def test_infer_keeps_counterexamples_with_their_lines() -> None:
    stats = ColumnStats()
    tokens = token_set(DEFAULT_NULL_TOKENS)
    accumulate(stats, nullify(pa.array([str(i) for i in range(50)]), tokens))
    values = nullify(pa.array(["1", "NA", "n/d", "3", "x"]), tokens)
    accumulate(stats, values, lambda rows: [100 + r for r in rows])
    ctype = decide_type(stats)
    assert ctype.kind is Kind.STRING
    assert counterexamples(stats) == [{"value": "n/d", "line": 102}, {"value": "x", "line": 104}]
    assert type_notes(stats, ctype) == [
        "52 of 54 values are numbers, but not 'n/d' (line 102), 'x' (line 104): kept as text"
        " (if they mean no value, add them to null_tokens)"
    ]


def test_infer_says_why_ambiguous_dates_stay_text() -> None:
    stats = ColumnStats()
    accumulate(stats, pa.array(["01/02/2023", "03/04/2023"]))
    ctype = decide_type(stats)
    assert ctype.kind is Kind.STRING
    assert "no day above 12" in type_notes(stats, ctype)[0]


def test_stats_count_nulls_and_values() -> None:
    stats = ColumnStats()
    accumulate(stats, nullify(pa.array(["1", "", "NA", "2"]), token_set(DEFAULT_NULL_TOKENS)))
    assert (stats.values, stats.nulls) == (2, 2)


# --- conversion ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "ctype", "expected"),
    [
        (["1", None, "-3"], ColumnType(Kind.INT, "plain"), [1, None, -3]),
        (["1.5", "2"], ColumnType(Kind.FLOAT, "plain"), [1.5, 2.0]),
        (["1,234.5", "7"], ColumnType(Kind.FLOAT, "grouped"), [1234.5, 7.0]),
        (["1.234,56", "12,5"], ColumnType(Kind.FLOAT, "decimal_comma"), [1234.56, 12.5]),
        (["Sim", "não", None, "S", "n"], ColumnType(Kind.BOOL), [True, False, None, True, False]),
        (["2023-01-31"], ColumnType(Kind.DATE, "iso"), [dt.date(2023, 1, 31)]),
        (
            ["5/3/2023", "25/12/2023"],
            ColumnType(Kind.DATE, "dmy/"),
            [dt.date(2023, 3, 5), dt.date(2023, 12, 25)],
        ),
        (["12-25-2023"], ColumnType(Kind.DATE, "mdy-"), [dt.date(2023, 12, 25)]),
        (
            ["2023-01-31 10:00:01.5"],
            ColumnType(Kind.TIMESTAMP, "naive"),
            [dt.datetime(2023, 1, 31, 10, 0, 1, 500000)],
        ),
        (["x", None], ColumnType(Kind.STRING), ["x", None]),
        (["1,234", "-7"], ColumnType(Kind.INT, "grouped"), [1234, -7]),
        (
            ["12.5%", "-3%", "33.3 %"],
            ColumnType(Kind.FLOAT, "percent", scale=1),
            [0.125, -0.03, 0.333],
        ),
        (["12,5%", None], ColumnType(Kind.FLOAT, "percent_comma", scale=1), [0.125, None]),
        (
            ["15/03/2015 14:30", "1/2/2020 9:05:59"],
            ColumnType(Kind.TIMESTAMP, "dmy/ time"),
            [dt.datetime(2015, 3, 15, 14, 30), dt.datetime(2020, 2, 1, 9, 5, 59)],
        ),
        (
            ["0.12345678901234567", "12.5"],
            ColumnType(Kind.DECIMAL, "plain", precision=32, scale=17),
            [decimal.Decimal("0.12345678901234567"), decimal.Decimal("12.50000000000000000")],
        ),
        (
            ["12,5%"],
            ColumnType(Kind.DECIMAL, "percent_comma", precision=20, scale=1),
            [decimal.Decimal("0.125")],
        ),
    ],
)
def test_convert(values: list[str | None], ctype: ColumnType, expected: list[object]) -> None:
    out = convert(pa.array(values, pa.string()), ctype)
    assert out.type == arrow_type(ctype)
    assert out.to_pylist() == expected


def test_convert_timestamp_with_offset_is_utc() -> None:
    out = convert(pa.array(["2023-01-31T10:00:00-03:00"]), ColumnType(Kind.TIMESTAMP, "utc"))
    assert out.type == pa.timestamp("us", "UTC")
    assert out[0].as_py() == dt.datetime(2023, 1, 31, 13, 0, tzinfo=dt.UTC)


def test_convert_refuses_to_lose_values() -> None:
    with pytest.raises(RuntimeError):
        convert(pa.array(["1", "x"]), ColumnType(Kind.INT, "plain"))
    with pytest.raises(RuntimeError):
        convert(pa.array(["1/2/2023", "x"]), ColumnType(Kind.DATE, "dmy/"))


# --- dedup -----------------------------------------------------------------------


def test_value_hashes_are_deterministic_and_slice_safe() -> None:
    values = pa.array(["", "a", "abcdefgh", "abcdefghi", "abcdefgh\x00", None, "x" * 100, "ação"])
    h = value_hashes(values)
    assert len(set(h.tolist())) == len(values)
    assert (value_hashes(values.slice(2, 4)) == h[2:6]).all()
    # A value's hash does not depend on the other values of its batch.
    assert (value_hashes(pa.array(["x" * 100, "a"])) == h[[6, 1]]).all()


def test_row_hash_depends_on_column_boundaries_and_order() -> None:
    def row(*cols: list[str | None]) -> int:
        columns = [pa.array(c, pa.string()) for c in cols]
        return int(row_hashes(columns, [DistinctEstimate() for _ in cols])[0])

    assert len({row(["ab"], ["c"]), row(["a"], ["bc"]), row(["c"], ["ab"])}) == 3
    assert row([None]) != row([""])


def test_hash_distinct_on_many_values() -> None:
    values = pa.array([str(i) * (i % 20) + str(i) for i in range(100_000)])
    assert len(np.unique(value_hashes(values))) == 100_000


def test_distinct_estimate() -> None:
    for n in (0, 10, 1000, 200_000):
        estimate = DistinctEstimate()
        values = pa.array([f"v{i}" for i in range(n)] * 2)
        estimate.add(value_hashes(values))
        assert abs(estimate.estimate() - n) <= max(2, 0.05 * n)


def dedupe(
    tmp_path: Path, batches: list[list[object]], hashes: list[int] | None = None
) -> list[bool]:
    """Run the three dedupe steps over one-column batches; ``hashes`` forces row hashes."""
    spill = dedup.HashSpill(tmp_path / "d")
    flat = [v for batch in batches for v in batch]
    given = np.array(hashes, dtype=np.uint64) if hashes is not None else None
    start = 0
    for batch in batches:
        # The deduper sees text; these typed test values hash by their text.
        h = value_hashes(pa.array(batch).cast(pa.string()))
        spill.add(given[start : start + len(batch)] if given is not None else h)
        start += len(batch)
    deduper = dedup.Deduper(dedup.plan(spill), memory_budget=1 << 20)
    keep: list[bool] = []
    for batch in batches:
        mask = deduper.keep_mask([pa.array(batch)])
        keep += [True] * len(batch) if mask is None else mask.tolist()
    deduper.close()
    assert len(keep) == len(flat)
    return keep


def test_dedupe_keeps_first_occurrences_across_batches(tmp_path: Path) -> None:
    assert dedupe(tmp_path, [[5, 6, 5], [7, 6, None], [None, 5]]) == [
        True,
        True,
        False,
        True,
        False,
        True,
        False,
        False,
    ]


def test_dedupe_never_drops_a_row_on_a_hash_collision(tmp_path: Path) -> None:
    # Every row gets the same hash: only equal values may be dropped.
    values = [["a", "b", "a"], ["c", "b", "a"]]
    assert dedupe(tmp_path, values, hashes=[42] * 6) == [True, True, False, True, False, False]


def test_dedupe_matches_a_python_set(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    batches = [rng.integers(0, 500, 300).tolist() for _ in range(20)]
    seen: set[int] = set()
    expected = []
    for value in (v for b in batches for v in b):
        expected.append(value not in seen)
        seen.add(value)
    assert dedupe(tmp_path, batches) == expected


# --- encoding --------------------------------------------------------------------


def test_detect_encoding_boms_and_utf8() -> None:
    assert detect_encoding(b"a,b\n", True, None) == EncodingInfo("utf-8", False, 0, "utf-8")
    assert detect_encoding(codecs.BOM_UTF8 + b"a\n", True, None).bom_length == 3
    info = detect_encoding("a,b\n".encode("utf-16"), True, None)
    assert info.encoding == "utf-16-le" and info.bom
    assert detect_encoding(codecs.BOM_UTF16_BE + "a".encode("utf-16-be"), True, None).encoding == (
        "utf-16-be"
    )


def test_detect_encoding_sample_cut_inside_a_character() -> None:
    sample = "ação".encode()[:-1]  # the sample ends mid-character: not an error
    assert detect_encoding(sample, False, None).encoding == "utf-8"


def test_detect_encoding_cp1252() -> None:
    text = "nome;cidade;preço\nJoão;São Paulo;1,50\nMaria;Brasília;2,00\n" * 20
    info = detect_encoding(text.encode("cp1252"), True, None)
    assert (info.encoding, info.detected_by) == ("cp1252", "charset-normalizer")


def test_detect_encoding_broken_utf8_has_offset() -> None:
    data = "ação,x\n".encode() + b"bad\xff\n"
    with pytest.raises(BadInput, match=r"byte 0xff at byte offset 12\b"):
        detect_encoding(data, True, None)


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"PK\x03\x04rest", "ZIP"),
        (b"%PDF-1.4", "PDF"),
        (b"a,b\n\x00\x01", "NUL byte at byte offset 4"),
    ],
)
def test_detect_encoding_binary(data: bytes, what: str) -> None:
    with pytest.raises(BadInput, match=what):
        detect_encoding(data, True, None)


def test_detect_encoding_forced() -> None:
    assert detect_encoding(b"\xe9", True, "latin-1").encoding == "iso8859-1"
    assert detect_encoding(codecs.BOM_UTF8 + b"x", True, "utf-8-sig").bom_length == 3


def read_all(data: bytes, info: EncodingInfo, chunk: int = 5) -> bytes:
    stream = Utf8Stream(io.BufferedReader(io.BytesIO(data), buffer_size=chunk), info)
    stream._CHUNK = chunk  # force many small reads
    out = b""
    while piece := stream.read(3):
        out += piece
    return out


def test_utf8_stream_passes_text_through_and_adds_final_newline() -> None:
    data = "ação,é\nx,y".encode()
    assert read_all(data, EncodingInfo("utf-8", False, 0, "utf-8")) == data + b"\n"
    assert read_all(b"a\r\n", EncodingInfo("utf-8", False, 0, "utf-8")) == b"a\r\n"


def test_utf8_stream_transcodes_and_strips_bom() -> None:
    data = "a,ção\n".encode("utf-16")
    info = detect_encoding(data, True, None)
    assert read_all(data, info) == "a,ção\n".encode()


@pytest.mark.parametrize("cut", [1, 2, 3, 4, 5, 7])
def test_utf8_stream_error_offset_independent_of_chunking(cut: int) -> None:
    data = "éé".encode() + b"x" * 10 + b"\xc3(" + b"tail"
    with pytest.raises(BadInput, match=r"byte 0xc3 at byte offset 14\b"):
        read_all(data, EncodingInfo("utf-8", False, 0, "utf-8"), chunk=cut)


def test_utf8_stream_truncated_character_at_end() -> None:
    with pytest.raises(BadInput, match="incomplete character at byte offset 3"):
        read_all(b"abc\xc3", EncodingInfo("utf-8", False, 0, "utf-8"))


def test_utf8_stream_nul_byte() -> None:
    with pytest.raises(BadInput, match="NUL character at byte offset 6"):
        read_all(b"a,b\nc,\x00\n", EncodingInfo("utf-8", False, 0, "utf-8"))


# --- dialect ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1,5;2,5;3\n4;5,5;6\n", ";"),
        ("a\tb\n1\t2\n", "\t"),
        ("a|b\n1|2\n", "|"),
        ('name,text\nx,"a;b;c"\ny,"d;e"\n', ","),
        ("one column\nvalue\n", ","),
    ],
)
def test_detect_delimiter(text: str, delimiter: str) -> None:
    assert detect_delimiter(text, truncated=False) == delimiter


def test_detect_header() -> None:
    nulls = frozenset(DEFAULT_NULL_TOKENS)
    assert detect_header([["id", "name"], ["1", "x"], ["2", "y"]], nulls)
    assert not detect_header([["1", "x"], ["2", "y"], ["3", "z"]], nulls)
    assert not detect_header([["1", "NA", "2020-01-01"], ["2", "3", "2021-01-01"]], nulls)
    assert detect_header([["name", "city"], ["x", "y"]], nulls)  # no evidence: header


def test_preamble_length() -> None:
    table = [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]
    assert preamble_length(table) == 0
    assert preamble_length([["Report 2024"], [], *table]) == 2
    assert preamble_length([["Title", "", ""], *table]) == 1
    # A header that is simply narrower than the rows is kept (rows become malformed).
    assert preamble_length([["a", "b"], *([["1", "2", "3"]] * 3)]) == 0
    # In a 2-column table "name," may be a header: keep it.
    assert preamble_length([["name", ""], ["x", "y"], ["z", "w"]]) == 0


def test_detect_dialect_counts_physical_lines_to_skip() -> None:
    text = "Title\r\n\r\nnotes: x\r\nid,name,value\r\n1,a,2\r\n2,b,3\r\n"
    dialect = detect_dialect(text, False, None, None, False)
    assert dialect.skip_lines == 3
    assert dialect.header == ("id", "name", "value")
    assert dialect.has_header and dialect.line_endings == "CRLF"


def test_detect_dialect_user_choices_win() -> None:
    dialect = detect_dialect("x;y\n1;2\n", False, ",", 0, True)
    assert dialect.delimiter == "," and not dialect.has_header and dialect.header == ("",)


# --- options and version ------------------------------------------------------------


def test_options_validation() -> None:
    assert ProcessOptions(delimiter="tab").delimiter == "\t"
    with pytest.raises(BadInput):
        ProcessOptions(delimiter='"')
    with pytest.raises(BadInput):
        ProcessOptions(encoding="no-such-codec")
    with pytest.raises(BadInput):
        ProcessOptions(header_row=-1)


def test_processor_version() -> None:
    import processor

    assert processor_version() == processor.__version__


def test_group_store_budget_counts_what_python_really_spends(tmp_path: Path) -> None:
    """The in-memory duplicate groups stop at their budget in real bytes (tracemalloc),
    not just in key bytes, and the rest go to SQLite, still found."""
    import tracemalloc

    budget = 4 << 20
    store = dedup.GroupStore(tmp_path, budget)

    def key(i: int) -> bytes:
        return dedup.row_key([f"customer {i:06d}", "São Paulo", str(i * 7.5)])

    # Keys made inside the traced span: their bytes are what the budget is about.
    # Only blocks allocated in dedup.py count: pytest may run server threads whose
    # allocations would otherwise land in the same total (a CI run saw 4.9 MiB).
    tracemalloc.start()
    for i in range(60_000):
        store.open_group(i, 2, key(i))
    own = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, dedup.__file__)])
    held = sum(stat.size for stat in own.statistics("filename"))
    tracemalloc.stop()
    assert store.spilled_groups > 0
    assert held <= 1.2 * budget, (
        f"{held / 2**20:.1f} MiB held for a {budget / 2**20:.0f} MiB budget"
    )
    # Every group, in memory or spilled, still recognises its duplicate.
    assert all(store.is_duplicate(i, key(i)) for i in range(60_000))
    assert not store.is_duplicate(0, b"something else")
    store.close()
