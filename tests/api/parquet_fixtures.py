"""Deterministic Parquet datasets with many row groups, registered as ready in a running
API's data dir (the same objects and catalog rows the processor would leave), and the
plain-Python rows they hold, so tests compute expectations independently of pyarrow."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from core import keys
from core.catalog import SqlCatalog, new_dataset_id
from core.settings import Settings
from core.storage.factory import ensure_buckets, make_store
from tests.servers.api import ApiServer

ROWS = 1000
GROUP_ROWS = 100
CITIES = ["Oslo", "Lima", "Pune", "Kyiv", "Baku"]
# Text a spreadsheet would run as a formula, and harmless text around it.
NOTES = ["=1+1", "+SUM(A1)", "-x", "@cmd", "\tlead", "\rcr", "plain", "a-b", "x=1", ""]
EPOCH = dt.datetime(2024, 1, 1)

SCHEMA = pa.schema(
    [
        ("id", pa.int64()),
        ("ts", pa.timestamp("us")),
        ("tsz", pa.timestamp("us", "UTC")),
        ("day", pa.date32()),
        ("city", pa.string()),
        ("amount", pa.float64()),
        ("qty", pa.int64()),
        ("delta", pa.int64()),
        ("paid", pa.bool_()),
        ("note", pa.string()),
    ]
)


def orders_rows(n: int = ROWS) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        ts = EPOCH + dt.timedelta(minutes=37 * i)
        rows.append(
            {
                "id": i,
                "ts": ts,
                "tsz": (ts + dt.timedelta(hours=3)).replace(tzinfo=dt.UTC),
                "day": (EPOCH + dt.timedelta(days=i // 40)).date(),
                "city": None if i % 17 == 0 else CITIES[(i * 7) % len(CITIES)],
                "amount": None if i % 23 == 0 else round(((i * 7919) % 1000) / 10.0, 1),
                "qty": (i * 7) % 13,
                "delta": (i % 9) - 4,
                "paid": None if i % 19 == 0 else i % 3 == 0,
                "note": NOTES[i % len(NOTES)],
            }
        )
    return rows


def parquet_bytes(rows: list[dict[str, Any]], group_rows: int = GROUP_ROWS) -> bytes:
    table = pa.Table.from_pylist(rows, schema=SCHEMA)
    out = io.BytesIO()
    pq.write_table(table, out, row_group_size=group_rows, compression="zstd")
    return out.getvalue()


def register(
    server: ApiServer, data: bytes, *, name: str | None = None, filename: str = "orders.csv"
) -> str:
    """Store `data` as a dataset's processed Parquet and record the dataset as ready."""
    settings = Settings(data_dir=server.data_dir)
    store = make_store(settings)
    ensure_buckets(store, settings)
    catalog = SqlCatalog.from_url(settings.resolved_database_url())
    dataset_id = new_dataset_id()
    raw = b"id\n1\n"
    store.put_bytes(settings.storage.raw_bucket, keys.raw_key(dataset_id), raw)
    store.put_bytes(settings.storage.processed_bucket, keys.data_key(dataset_id), data)
    catalog.add(
        dataset_id=dataset_id,
        filename=filename,
        raw_key=keys.raw_key(dataset_id),
        sha256="0" * 64,
        size_bytes=len(raw),
        name=name,
    )
    catalog.mark_processing(dataset_id)
    catalog.mark_ready(dataset_id, rows_in=0, rows_out=0, rows_rejected=0)
    catalog.engine.dispose()
    return dataset_id


def as_json(value: Any) -> Any:
    """A Python value as the JSON API renders it."""
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    return value
