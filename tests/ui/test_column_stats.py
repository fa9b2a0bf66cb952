"""GET /datasets/{id}/columns/{name}/stats, the data behind the column charts, over HTTP."""

from __future__ import annotations

import httpx
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from api.column_stats import MAX_VALUE_CHARS
from core.catalog import new_dataset_id
from tests.servers.api import ApiServer

from .conftest import catalog_of, parquet_table


def stats(client: httpx.Client, dataset_id: str, name: str, **params: int) -> httpx.Response:
    return client.get(f"/datasets/{dataset_id}/columns/{name}/stats", params=params)


@pytest.mark.parametrize("bins", [1, 7, 20])
def test_histograms_cover_every_value(
    api_client: httpx.Client, ui_api: ApiServer, messy_id: str, airedale_id: str, bins: int
) -> None:
    checked = 0
    for dataset_id in (messy_id, airedale_id):
        table = parquet_table(ui_api, dataset_id)
        for field in table.schema:
            kind = field.type
            if not (
                pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_date(kind)
            ):
                continue
            column = table[field.name]
            if pa.types.is_floating(kind):
                column = pc.filter(column, pc.is_finite(column))
            answer = stats(api_client, dataset_id, field.name, bins=bins)
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["chart"] == "histogram"
            non_null = len(column) - column.null_count
            assert body["count"] == non_null
            assert body["nulls"] == table.num_rows - non_null
            assert sum(b["count"] for b in body["bins"]) == non_null
            assert 1 <= len(body["bins"]) <= bins
            if non_null:
                bounds = pc.min_max(column).as_py()
                low, high = bounds["min"], bounds["max"]
                if pa.types.is_date(kind):
                    low, high = low.isoformat(), high.isoformat()
                assert (body["min"], body["max"]) == (low, high)
                assert body["bins"][0]["start"] == body["min"]
                assert body["bins"][-1]["end"] == body["max"]
            checked += 1
    assert checked >= 3


def test_whole_number_bins_count_each_value_once(
    api_client: httpx.Client, ui_api: ApiServer, messy_id: str
) -> None:
    table = parquet_table(ui_api, messy_id)
    name = next(
        f.name
        for f in table.schema
        if pa.types.is_integer(f.type) and table[f.name].null_count < table.num_rows
    )
    body = stats(api_client, messy_id, name, bins=13).json()
    values = pc.drop_null(table[name]).to_pylist()
    for b in body["bins"]:
        # Int bins are closed at both ends and never overlap.
        assert b["count"] == sum(1 for v in values if b["start"] <= v <= b["end"])


def clip(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "\u2026"


def test_top_values_of_text(api_client: httpx.Client, ui_api: ApiServer, messy_id: str) -> None:
    table = parquet_table(ui_api, messy_id)
    for field in table.schema:
        if not pa.types.is_string(field.type):
            continue
        body = stats(api_client, messy_id, field.name, top=5).json()
        assert body["chart"] == "top_values"
        counts = pc.value_counts(pc.drop_null(table[field.name])).to_pylist()
        assert body["distinct"] == len(counts) and body["exact"] is True
        shown = [(v["value"], v["count"]) for v in body["values"]]
        assert len(shown) == min(5, len(counts))
        assert [n for _, n in shown] == sorted((c["counts"] for c in counts), reverse=True)[
            : len(shown)
        ]
        # Chart labels are clipped to 200 characters, marked with an ellipsis.
        for value, n in shown:
            assert n in {c["counts"] for c in counts if clip(c["values"]) == value}
        assert body["other_count"] == body["count"] - sum(n for _, n in shown)
        assert body["count"] == table.num_rows - table[field.name].null_count


def test_errors(api_client: httpx.Client, ui_api: ApiServer, messy_id: str) -> None:
    unknown = stats(api_client, messy_id, "no_such_column")
    assert unknown.status_code == 422
    assert "no_such_column" in unknown.json()["error"]["message"]

    missing = stats(api_client, new_dataset_id(), "x")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "not_found"

    bad_bins = stats(api_client, messy_id, "x", bins=0)
    assert bad_bins.status_code == 422

    catalog = catalog_of(ui_api)
    waiting = new_dataset_id()
    catalog.add(
        dataset_id=waiting,
        filename="w.csv",
        raw_key=f"{waiting}/source.csv",
        sha256="0" * 64,
        size_bytes=1,
        name=waiting,
    )
    pending = stats(api_client, waiting, "x")
    assert pending.status_code == 202 and pending.headers["Retry-After"]
    assert pending.json() == {"id": waiting, "name": waiting, "version": 1, "status": "queued"}
    assert catalog.mark_processing(waiting)
    assert catalog.mark_failed(waiting, "broken on purpose")
    failed = stats(api_client, waiting, "x")
    assert failed.status_code == 409
    assert "broken on purpose" in failed.json()["error"]["message"]
