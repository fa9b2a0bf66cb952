"""The serving benchmark's dataset: ≈ 6M rows, ≈ 1 GB of Parquet, the same bytes on every run.

It is written the way the processor writes its output (zstd, dictionary pages for text
and dates, one `write_table` per row group of `ProcessOptions().row_group_rows` rows), so
what the benchmark measures is what a processed upload would serve. Rows are ordered by
`id` and `created_at`, as exports from an application database usually are, which is what
lets row-group statistics prune a range filter.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

SEED = 20261125
ROWS = 6_000_000
NOTE_WORDS = 40
DATA_DIR = Path(__file__).resolve().parent / "data"
COUNTRIES = np.array(["US", "DE", "FR", "GB", "JP", "BR", "IN", "CN", "ES", "IT", "NL", "SE"])
CATEGORIES = np.array([f"category {i:02d}" for i in range(40)])
_ALPHABET = np.frombuffer(b"abcdefghijklmnopqrstuvwxyz0123456789", dtype=np.uint8)
_EPOCH_US = 1_700_000_000_000_000
_STEP_US = 5_000_000

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("created_at", pa.timestamp("us")),
        ("day", pa.date32()),
        ("customer", pa.string()),
        ("country", pa.string()),
        ("category", pa.string()),
        ("amount", pa.float64()),
        ("quantity", pa.int64()),
        ("paid", pa.bool_()),
        ("token", pa.string()),
        ("note", pa.string()),
    ]
)


def _fixed_strings(rng: np.random.Generator, n: int, width: int) -> pa.Array:
    data = _ALPHABET[rng.integers(0, len(_ALPHABET), size=n * width)].tobytes()
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.string(), n, [None, pa.py_buffer(offsets.tobytes()), pa.py_buffer(data)]
    )


def _vocabulary() -> pa.Array:
    rng = np.random.default_rng(SEED)
    lengths = rng.integers(3, 11, size=5000)
    letters = _ALPHABET[:26]
    return pa.array(
        ["".join(chr(c) for c in letters[rng.integers(0, 26, size=n)]) for n in lengths]
    )


def _chunk(start: int, n: int, vocabulary: pa.Array) -> pa.Table:
    # One generator per chunk, seeded by its position: chunks never depend on each other.
    rng = np.random.default_rng([SEED, start])
    ids = np.arange(start, start + n, dtype=np.int64)
    created = _EPOCH_US + ids * _STEP_US + rng.integers(0, _STEP_US, size=n)
    created_at = pa.array(created.astype("datetime64[us]"))
    words = rng.integers(0, len(vocabulary), size=(n, NOTE_WORDS))
    note = pc.binary_join_element_wise(
        *[vocabulary.take(pa.array(words[:, j])) for j in range(NOTE_WORDS)], " "
    )
    customer = pc.binary_join_element_wise(
        "cust-", pc.cast(pa.array(rng.integers(0, 1_000_000, size=n)), pa.string()), ""
    )
    amount = np.round(rng.gamma(2.0, 50.0, size=n), 2)
    # A few missing values, as real data has them.
    amount_mask = rng.random(n) < 0.01
    return pa.table(
        {
            "id": pa.array(ids),
            "created_at": created_at,
            "day": pc.cast(created_at, pa.date32()),
            "customer": customer,
            "country": pa.array(COUNTRIES[rng.integers(0, len(COUNTRIES), size=n)]),
            "category": pa.array(CATEGORIES[rng.integers(0, len(CATEGORIES), size=n)]),
            "amount": pa.array(amount, mask=amount_mask),
            "quantity": pa.array(rng.integers(1, 21, size=n)),
            "paid": pa.array(rng.random(n) < 0.8),
            "token": _fixed_strings(rng, n, 24),
            "note": note,
        },
        schema=SCHEMA,
    )


def dataset_path(rows: int = ROWS) -> Path:
    return DATA_DIR / f"serving-{rows}.parquet"


def ensure_dataset(rows: int = ROWS, log: bool = True) -> Path:
    """The benchmark file, generated once and reused while it is present."""
    path = dataset_path(rows)
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    # Imported here: a reused file needs nothing from the processor.
    from processor.pipeline.options import ProcessOptions

    group_rows = ProcessOptions().row_group_rows
    tmp = path.with_name(f".{path.name}.partial")
    vocabulary = _vocabulary()
    dictionary = [f.name for f in SCHEMA if pa.types.is_string(f.type) or pa.types.is_date(f.type)]
    with pq.ParquetWriter(
        tmp, SCHEMA, compression="zstd", use_dictionary=dictionary, coerce_timestamps="us"
    ) as writer:
        for start in range(0, rows, group_rows):
            n = min(group_rows, rows - start)
            writer.write_table(_chunk(start, n, vocabulary), row_group_size=n)
            if log and (start // group_rows) % 10 == 0:
                print(f"  generating {path.name}: {start + n:,}/{rows:,} rows", flush=True)
    os.replace(tmp, path)
    return path
