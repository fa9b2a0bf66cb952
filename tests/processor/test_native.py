"""The compiled kernels (processor/pipeline/native/) against plain-Python renderings
of the same definitions, on random data, slices, nulls and both offset widths."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import random
import re
import subprocess
import sys
from decimal import Decimal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from processor.pipeline import _native, dedup, infer
from processor.pipeline.cleaning import trim
from processor.pipeline.convert import _percent, _plain_number_text, booleans, marked_floats
from processor.pipeline.dates import to_date32
from processor.pipeline.infer import ColumnType, Kind
from processor.pipeline.rowhash import DistinctEstimate, row_hashes, value_hashes
from processor.pipeline.stats import extremes
from processor.pipeline.strbuf import column_buffers

MASK = (1 << 64) - 1


def only_bytes(values: pa.Array, allowed: bytes) -> bool:
    """Reference: every byte of every value is one of ``allowed``."""
    return all(set(v.encode()) <= set(allowed) for v in values.to_pylist())


def any_leading_zero(values: pa.Array) -> bool:
    """Reference: a value like "007" or "-01", an identifier rather than a number."""
    return any(re.match(r"-?0[0-9]", v) for v in values.to_pylist() if v is not None)


M1, M2 = 0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F
NULL = 0xA4093822299F31D0


def fmix(h: int) -> int:
    h ^= h >> 33
    h = (h * 0xFF51AFD7ED558CCD) & MASK
    h ^= h >> 33
    h = (h * 0xC4CEB9FE1A85EC53) & MASK
    return h ^ (h >> 33)


def reference_hash(value: str | None) -> int:
    """rowhash's documented value hash, one byte string at a time."""
    if value is None:
        return NULL
    data = value.encode()
    h = (len(data) * M2) & MASK
    for at in range(0, len(data), 8):
        word = int.from_bytes(data[at : at + 8].ljust(8, b"\0"), "little")
        word = ((word ^ h) * M1) & MASK
        h = word ^ (word >> 29)
    return fmix(h)


def reference_rows(columns: list[list[int]]) -> list[int]:
    """rowhash's documented row hash: row = h0, row = row * M2 ^ h, then fmix64."""
    out = []
    for hashes in zip(*columns, strict=True):
        row = hashes[0]
        for h in hashes[1:]:
            row = ((row * M2) & MASK) ^ h
        out.append(fmix(row))
    return out


def random_values(rng: random.Random, n: int) -> list[str | None]:
    alphabet = 'ab ,;"\n\x00çã€😀0123456789'
    return [
        None if rng.random() < 0.1 else "".join(rng.choices(alphabet, k=rng.randrange(0, 40)))
        for _ in range(n)
    ]


@pytest.mark.parametrize("kind", [pa.string(), pa.large_string()])
def test_value_hashes_match_the_definition(kind: pa.DataType) -> None:
    rng = random.Random(7)
    values = random_values(rng, 500)
    array = pa.array(values, type=kind)
    assert value_hashes(array).tolist() == [reference_hash(v) for v in values]
    # Slices start mid-buffer and mid-bitmap byte.
    for lo, hi in ((3, 3), (5, 133), (1, 500), (499, 500)):
        assert value_hashes(array.slice(lo, hi - lo)).tolist() == [
            reference_hash(v) for v in values[lo:hi]
        ]


def test_null_slots_holding_bytes_hash_as_null() -> None:
    values = pa.array(["NA", "x", "NA"])
    nulled = pa.Array.from_buffers(
        pa.string(), 3, [pa.py_buffer(bytes([0b010])), *values.buffers()[1:]], null_count=2
    )
    assert value_hashes(nulled).tolist() == [NULL, reference_hash("x"), NULL]


def test_row_hashes_combine_value_hashes_and_feed_the_estimates() -> None:
    rng = random.Random(3)
    cols = [pa.array(random_values(rng, 300)) for _ in range(4)]
    cols[1] = cols[1].cast(pa.large_string())
    estimates = [DistinctEstimate() for _ in cols]
    got = row_hashes(cols, estimates)
    assert got.tolist() == reference_rows([value_hashes(c).tolist() for c in cols])
    for col, estimate in zip(cols, estimates, strict=True):
        expected = DistinctEstimate()
        hashes = value_hashes(col)
        expected.add(hashes, np.asarray(col.is_valid().to_numpy(zero_copy_only=False)))
        assert (estimate.registers == expected.registers).all()
        assert estimate.estimate() == pytest.approx(len(col.drop_null().unique()), rel=0.05)


def test_hll_registers_keep_the_largest_rank() -> None:
    registers = np.zeros(4096, dtype=np.uint8)
    h = np.array([(5 << 52) | (1 << 40), (5 << 52) | (1 << 50), (7 << 52)], dtype=np.uint64)
    _native.hll_add(registers, h, np.array([True, True, False]))
    # Register 5: the remaining 52 bits shifted up by 12 have 11 or 1 leading zeros.
    assert registers[5] == 12 and registers[7] == 0 and registers.sum() == 12
    _native.hll_add(registers, h, None)
    # All-zero remaining bits meet the guard bit: rank 52 + 1.
    assert registers[7] == 53


def test_row_keys_equal_row_key_of_the_values() -> None:
    rng = random.Random(11)
    n = 200
    cols = [pa.array(random_values(rng, n + 7)).slice(7) for _ in range(3)]
    rows = np.array(rng.sample(range(n), 60), dtype=np.int64)
    keys = dedup.row_keys(cols, rows)
    as_lists = [c.to_pylist() for c in cols]
    assert keys == [dedup.row_key([col[r] for col in as_lists]) for r in rows.tolist()]


def test_row_keys_of_typed_columns_use_the_slow_path() -> None:
    cols = [pa.array([1, None, 3]), pa.array(["a", "b", None])]
    keys = dedup.row_keys(cols, np.array([2, 0], dtype=np.int64))
    assert keys == [dedup.row_key([3, None]), dedup.row_key([1, "a"])]


def test_malformed_arrays_raise_instead_of_reading_out_of_bounds() -> None:
    good = pa.array(["abc", "de"])
    _, offsets, data = good.buffers()
    out = np.empty(2, dtype=np.uint64)
    bad_offsets = pa.py_buffer(np.array([0, 3, 99], dtype=np.int32).tobytes())
    with pytest.raises(ValueError, match="out of bounds"):
        _native.hash_values((None, bad_offsets, data, 0, 2, False), out)
    backwards = pa.py_buffer(np.array([0, 3, 1], dtype=np.int32).tobytes())
    with pytest.raises(ValueError, match="out of bounds"):
        _native.hash_values((None, backwards, data, 0, 2, False), out)
    with pytest.raises(ValueError, match="offsets buffer too short"):
        _native.hash_values((None, offsets, data, 1, 2, False), out)
    with pytest.raises(ValueError, match="out buffer too short"):
        _native.hash_values(column_buffers(good), np.empty(1, dtype=np.uint64))
    with pytest.raises(ValueError, match="validity bitmap too short"):
        _native.hash_values((pa.py_buffer(b""), offsets, data, 0, 2, False), out)
    with pytest.raises(IndexError):
        _native.row_keys([column_buffers(good)], np.array([2], dtype=np.int64))
    with pytest.raises(ValueError, match="differ in length"):
        _native.hash_rows(
            [column_buffers(good), column_buffers(good.slice(1))],
            [np.zeros(4096, np.uint8)] * 2,
            out,
        )
    with pytest.raises(TypeError):
        column_buffers(pa.array([1, 2]))


@pytest.mark.parametrize(
    "text",
    [b"", b"abc", b"a\nb", b"a\r\nb\r\n", b"\r\r\n\n\r", b"x\r" * 1000, b"\n" * 7, b"a\rb\nc\r\nd"],
)
def test_count_line_breaks(text: bytes) -> None:
    expected = text.count(b"\r\n") + (text.count(b"\r") - text.count(b"\r\n"))
    expected += text.count(b"\n") - text.count(b"\r\n")
    # A copy: numpy allocates exactly len(text) bytes, so an overrun is one the
    # sanitized run (test_native_sanitized.py) can see.
    exact = np.frombuffer(text, dtype=np.uint8).copy()
    assert _native.count_line_breaks(exact) == expected


def python_utf8_prefix(data: bytes) -> tuple[int, bool]:
    """What utf8_check must say, from Python's own strict decoder."""
    try:
        data.decode("utf-8")
        return len(data), False
    except UnicodeDecodeError as exc:
        cut_short = exc.reason == "unexpected end of data" and exc.end == len(data)
        return exc.start, cut_short


def test_utf8_check_agrees_with_pythons_decoder() -> None:
    rng = random.Random(5)
    pieces = [b"a", b"\xc3\xa7", b"\xe2\x82\xac", b"\xf0\x9f\x98\x80", b"\xed\x9f\xbf"]
    bad = [b"\x80", b"\xc0\xaf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xff"]
    cases = [b"", b"plain ascii text!", b"\xe2\x82", b"\xf0\x9f\x98", b"ab\xc3"]
    for _ in range(3000):
        parts = rng.choices(pieces, k=rng.randrange(0, 12))
        if rng.random() < 0.5:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(bad))
        data = b"".join(parts)
        if rng.random() < 0.3 and data:
            data = data[: rng.randrange(len(data))]
        cases.append(data)
    cases += [bytes([b]) + b"\x80\x80\x80" for b in range(256)]
    for data in cases:
        assert _native.utf8_check(data) == python_utf8_prefix(data), data


@pytest.mark.parametrize("fmt", ["grouped", "decimal_comma", "percent", "percent_comma"])
def test_marked_floats_equal_the_general_conversion(fmt: str) -> None:
    """Bit for bit what pyarrow's parsers give after rewriting the text, and the
    correctly rounded value (from Python's decimals) for percentages."""
    rng = random.Random(fmt)
    mark, group = (",", ".") if "comma" in fmt else (".", ",")
    values: list[str | None] = []
    for _ in range(20_000):
        if rng.random() < 0.05:
            values.append(None)
            continue
        whole = rng.choice([0, rng.randrange(10), rng.randrange(10**6), rng.randrange(10**12)])
        text = f"{whole:,}".replace(",", "\0") if not fmt.startswith("percent") else str(whole)
        text = text.replace("\0", group)
        if rng.random() < 0.7:
            text += mark + "".join(rng.choices("0123456789", k=rng.randrange(1, 4)))
        if rng.random() < 0.3:
            text = "-" + text
        if fmt.startswith("percent"):
            text += rng.choice(["%", " %"])
        values.append(text)
    array = pa.array(values)
    ctype = ColumnType(Kind.FLOAT, fmt, scale=3)
    fast = marked_floats(array, fmt)
    assert fast is not None
    general = _convert_general(array, ctype)
    assert fast.null_count == general.null_count
    got = np.asarray(fast.fill_null(7.0))
    want = np.asarray(general.fill_null(7.0))
    assert got.tobytes() == want.tobytes()
    if fmt.startswith("percent"):
        exact = [
            7.0 if v is None else float(Decimal(v.rstrip("% ").replace(",", ".")) / 100)
            for v in values
        ]
        assert got.tolist() == exact


def _convert_general(values: pa.Array, ctype: ColumnType) -> pa.Array:
    text = _plain_number_text(values, ctype.fmt)
    if ctype.fmt.startswith("percent"):
        return _percent(text, ctype, pa.float64())
    return pc.cast(text, pa.float64())


def test_marked_floats_leave_what_they_cannot_do_exactly_to_the_general_path() -> None:
    for text in ("1.234.567,891234567891", "12,", "1e5", "abc", ",5", "1,5,5", "--1"):
        assert marked_floats(pa.array([text]), "decimal_comma") is None, text
    assert marked_floats(pa.array(["12"]), "percent") is None
    assert marked_floats(pa.array(["0,00000000000000000000001%"]), "percent_comma") is None


def test_trim_strips_exactly_what_pyarrow_calls_whitespace() -> None:
    """Every code point, alone and around a letter, against utf8_trim_whitespace."""
    points = [c for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    alone = pa.array([chr(c) for c in points])
    framed = pa.array([f"{chr(c)}{chr(c)}x{chr(c)}" for c in points])
    for values in (alone, framed):
        assert trim(values).equals(pc.utf8_trim_whitespace(values))


def test_clean_scan_compares_tokens_trimmed_or_exactly() -> None:
    values = pa.array([" NA ", "NA", "", "  ", None, "nan", "N/A\u00a0"])
    hits = np.empty(len(values), dtype=np.uint8)
    tokens = [b"NA", b"", b"N/A"]
    assert _native.clean_scan(column_buffers(values), tokens, hits, True) == (3, 5)
    assert hits.tolist() == [1, 1, 1, 1, 0, 0, 1]
    assert _native.clean_scan(column_buffers(values), tokens, hits, False) == (3, 2)
    assert hits.tolist() == [0, 1, 1, 0, 0, 0, 0]


def random_number_texts(seed: int, n: int) -> list[str]:
    """Numbers, near-numbers and noise in the characters number shapes care about."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        if rng.random() < 0.5:
            out.append("".join(rng.choices("0123456789,.-% eE+", k=rng.randrange(0, 9))))
            continue
        whole = rng.choice([0, rng.randrange(10), rng.randrange(10**7)])
        text = rng.choice([f"{whole:,}", str(whole), f"{whole:,}".replace(",", ".")])
        if rng.random() < 0.5:
            text += rng.choice(".,") + str(rng.randrange(1000)) * rng.randrange(0, 2)
        if rng.random() < 0.3:
            text = rng.choice(["-", "0", "-0", "+"]) + text
        if rng.random() < 0.4:
            text += rng.choice(["%", " %", "%%", "% "])
        out.append(text)
    return out


@pytest.mark.parametrize(
    "pattern", [infer.INT_RE, infer.GROUPED_INT_RE, infer.GROUPED_RE, infer.DECIMAL_COMMA_RE]
)
def test_number_shapes_are_the_regular_expressions(pattern: str) -> None:
    compiled = re.compile(pattern.removeprefix("^").removesuffix("$"))
    group, mark, need_group = infer._NUMBER_SHAPES[pattern]
    for text in random_number_texts(hash(pattern) % 1000, 4000):
        got = _native.number_shapes(column_buffers(pa.array([text])), group, mark, need_group)
        assert got == bool(compiled.fullmatch(text)), (pattern, text)


def reference_percent_facts(values: pa.Array, mark: str) -> tuple[bool, int, int, int] | None:
    """The pyarrow-kernel version the compiled pass replaced (no nulls)."""
    if not infer._all(pc.ends_with(values, "%")):
        return None
    body = infer.percent_body(values)
    if any_leading_zero(body) or not infer._all(pc.greater(pc.binary_length(body), 0)):
        return None
    if not only_bytes(body, f"0123456789{mark}-".encode()):
        return None
    parses = infer._casts(pc.replace_substring(body, ",", "."), pa.float64())
    size = pc.utf8_length(body)
    position = pc.find_substring(body, mark)
    has_mark = pc.greater_equal(position, 0)
    scale = pc.if_else(has_mark, pc.subtract(pc.subtract(size, position), 1), 0)
    digits = pc.subtract(size, pc.if_else(has_mark, 1, 0))
    integer = pc.subtract(digits, scale)
    most = [int(pc.max(x).as_py() or 0) for x in (scale, digits, integer)]
    return (parses, most[0], most[1], most[2])


@pytest.mark.parametrize("mark", [".", ","])
def test_percent_facts_match_the_kernel_version(mark: str) -> None:
    texts = random_number_texts(7, 6000)
    for text in texts:
        values = pa.array([text])
        got = _native.percent_facts(column_buffers(values), ord(mark))
        want = reference_percent_facts(values, mark)
        if want is not None and not want[0]:
            assert got is not None and not got[0], text
        else:
            assert got == want, text
    # Whole batches: the maxima run over every value.
    fits = [t for t in texts if reference_percent_facts(pa.array([t]), mark) not in (None,)]
    batch = pa.array(fits)
    assert _native.percent_facts(column_buffers(batch), ord(mark)) == reference_percent_facts(
        batch, mark
    )


def test_fraction_digits() -> None:
    values = pa.array(["1,5", None, "12", "3,141", "-,25", ","])
    assert _native.fraction_digits(column_buffers(values), ord(",")) == 3
    assert _native.fraction_digits(column_buffers(pa.array(["12"])), ord(",")) == 0


@pytest.mark.parametrize("env", [{}, {"ARROW_DEFAULT_MEMORY_POOL": "system"}])
def test_cli_allocates_arrow_memory_from_jemalloc_unless_told_otherwise(
    env: dict[str, str],
) -> None:
    """The processor's entry point picks jemalloc (flat memory at 4 GB); an explicit
    ARROW_DEFAULT_MEMORY_POOL wins."""
    script = (
        "import pyarrow as pa, processor.__main__ as cli; cli.use_jemalloc(); "
        "print(pa.default_memory_pool().backend_name)"
    )
    environ = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", script], env={**environ, **env}, capture_output=True, text=True
    )
    assert done.stdout.strip() == env.get("ARROW_DEFAULT_MEMORY_POOL", "jemalloc"), done.stderr


def test_int64_shapes_are_what_the_int_candidate_allowed_before() -> None:
    """The old check: only digits and '-', pyarrow's int64 cast, no leading zero."""
    edges = [
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "10000000000000000000",
        "-0",
        "0",
        "00",
        "-01",
        "0x10",
        "1-2",
        "-",
        "",
        "+1",
        "922337203685477580",
    ]
    for text in edges + random_number_texts(3, 4000):
        values = pa.array([text])
        before = (
            only_bytes(values, b"0123456789-")
            and infer._casts(values, pa.int64())
            and not any_leading_zero(values)
        )
        assert infer.is_int_batch(values) == before, text
    assert infer.is_int_batch(pa.array(["1", "22", "-3"])) is True
    assert infer.is_int_batch(pa.array(["1", "22", "0x3"])) is False


def random_words(seed: int, n: int) -> list[str]:
    rng = random.Random(seed)
    pieces = ["s", "S", "i", "I", "\u0130", "m", "n", "N", "ã", "Ã", "a", "o", "O", "0", "1"]
    pieces += ["t", "T", "r", "u", "e", "E", "y", "Y", "f", "F", "l", "L", "x", " ", "é"]
    return ["".join(rng.choices(pieces, k=rng.randrange(0, 7))) for _ in range(n)]


def test_bool_words_are_the_lowercased_token_sets() -> None:
    """Against utf8_lower + is_in, the kernel-free definition they replaced."""
    texts = [*random_words(1, 20_000), "NÃO", "Não", "sİm", "TRUE", "no", "0", "1", "S", "nao"]
    hits = 0
    for text in texts:
        values = pa.array([text])
        lowered = pc.utf8_lower(values)
        member = len(text.encode()) <= 5 and infer._all(
            pc.is_in(lowered, value_set=infer._bool_set())
        )
        every, words = _native.bool_words(
            column_buffers(values), infer.YES_WORDS, infer.NO_WORDS, None
        )
        assert every == member, text
        if member:
            hits += 1
            assert words == (not only_bytes(values, b"01")), text
            truth = booleans(values).to_pylist()[0]
            assert truth == infer._all(pc.is_in(lowered, value_set=pa.array(infer.TRUE_TOKENS))), (
                text
            )
    assert hits > 100
    mixed = pa.array(["sim", None, "NÃO", "1"])
    assert booleans(mixed).to_pylist() == [True, None, False, True]


def python_dm(text: str, sep: str, day_first: bool) -> int | None:
    """Days since 1970-01-01 of a fixed-width day/month/year text, by datetime."""
    if len(text) != 10 or text[2] != sep or text[5] != sep:
        return None
    digits = text[:2] + text[3:5] + text[6:]
    if not (digits.isascii() and digits.isdigit()):
        return None
    a, b, year = int(text[:2]), int(text[3:5]), int(text[6:])
    day, month = (a, b) if day_first else (b, a)
    try:
        return (dt.date(year, month, day) - dt.date(1970, 1, 1)).days
    except ValueError:
        return None


def test_day_month_dates_against_datetime() -> None:
    rng = random.Random(9)
    texts = ["29/02/2000", "29/02/1900", "31/04/2023", "00/01/2020", "01/13/2020", "05/03/0000"]
    texts += ["12/31/9999", "01/01/0001", "5/3/2023", "05-03-2023", "05/03/20x3", "05/03/\uff12023"]
    for _ in range(5000):
        texts.append(
            f"{rng.randrange(0, 40):02d}/{rng.randrange(0, 40):02d}/{rng.randrange(0, 3000):04d}"
        )
    for text in texts:
        values = pa.array([text])
        facts = _native.dm_facts(column_buffers(values), ord("/"))
        day_first, month_first = python_dm(text, "/", True), python_dm(text, "/", False)
        shaped = (
            len(text) == 10
            and text[2] == text[5] == "/"
            and (text[:2] + text[3:5] + text[6:]).isdigit()
        )
        shaped = shaped and (text[:2] + text[3:5] + text[6:]).isascii()
        if not shaped:
            assert facts is None, text
            continue
        assert facts == (
            int(text[:2]),
            int(text[3:5]),
            day_first is not None,
            month_first is not None,
        )
        for first, expected in ((True, day_first), (False, month_first)):
            out = to_date32(values, "/", day_first=first)
            if expected is None:
                assert out is None, text
            else:
                assert out is not None and out.cast(pa.int32()).to_pylist() == [expected], text
    batch = pa.array(["05/03/2023", None, "31/12/1999"])
    assert _native.dm_facts(column_buffers(batch), ord("/")) == (31, 12, True, False)
    assert to_date32(batch, "/", day_first=True).to_pylist() == [
        dt.date(2023, 3, 5),
        None,
        dt.date(1999, 12, 31),
    ]
    assert _native.dm_facts(column_buffers(pa.array([None], pa.string())), ord("/")) is None


def old_is_float_batch(values: pa.Array) -> bool:
    """The float candidate's check before the compiled pass (its reference)."""
    if not only_bytes(values, b"0123456789-+.eE"):
        return False
    parsed = infer._parse(values, pa.float64())
    if parsed is None or not infer._all(pc.is_finite(parsed)):
        return False
    first = [v[:1] for v in values.to_pylist()]
    return not (any_leading_zero(values) or "+" in first)


def old_floats_are_grouped(values: pa.Array) -> bool:
    texts = values.to_pylist()
    if any("e" in t or "E" in t for t in texts):
        return False
    return not any(t.startswith((".", "-.")) or t.endswith(".") for t in texts)


def test_float_shapes_match_pyarrow_on_every_short_string() -> None:
    alphabet = "019-+.eE"
    texts = [""]
    for size in range(1, 5):
        texts += ["".join(t) for t in itertools.product(alphabet, repeat=size)]
    texts += ["1e999", "-1e999", "9" * 400, "9" * 299, "1.5e-300", "00.5", "0.5e10"]
    texts += random_number_texts(21, 2000)
    for text in texts:
        values = pa.array([text])
        expected = old_is_float_batch(values)
        assert infer.is_float_batch(values) == expected, text
        if expected:
            assert infer.plain_floats_are_grouped(values) == old_floats_are_grouped(values), text
    batch = pa.array(["1.5", "2", "-0.25", "3e2"])
    assert infer.is_float_batch(batch) and not infer.plain_floats_are_grouped(batch)


def test_string_extremes_are_pyarrows_min_max() -> None:
    rng = random.Random(13)
    for _ in range(300):
        values = (
            random_values(rng, rng.randrange(1, 60))
            + ["", "a", "a\x00", "ab"][: rng.randrange(0, 5)]
        )
        rng.shuffle(values)
        array = pa.array(values).slice(rng.randrange(0, 2))
        if rng.random() < 0.3:
            array = array.cast(pa.large_string())
        pair = pc.min_max(array)
        assert extremes(array) == (pair["min"].as_py(), pair["max"].as_py()), values
    assert extremes(pa.array([None, None], pa.string())) == (None, None)
    assert extremes(pa.array([3, 1, None])) == (1, 3)
