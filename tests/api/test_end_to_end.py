"""Every csv-spectrum file through HTTP and the local runner, on both storage backends."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import keys
from core.catalog import SqlCatalog, new_dataset_id
from core.settings import Settings
from core.storage.factory import ensure_buckets, make_store
from tests.conftest import s3_env
from tests.corpus import SPECTRUM, as_csv_text, spectrum_cases
from tests.servers.api import ApiServer, wait_final
from tests.servers.seaweed import SeaweedS3


@pytest.fixture(scope="module", params=["local", "s3"])
def server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    env: dict[str, str] = {}
    if request.param == "s3":
        seaweed: SeaweedS3 = request.getfixturevalue("seaweed")
        suffix = os.urandom(4).hex()
        env = s3_env(
            seaweed,
            MINI_STORAGE__RAW_BUCKET=f"e2e-raw-{suffix}",
            MINI_STORAGE__PROCESSED_BUCKET=f"e2e-processed-{suffix}",
        )
    with ApiServer(tmp_path_factory.mktemp(f"e2e-{request.param}"), env) as srv:
        yield srv


@pytest.mark.parametrize("csv_path", spectrum_cases(), ids=lambda p: p.stem)
def test_spectrum_file_round_trip(server: ApiServer, csv_path: Path) -> None:
    expected = json.loads((SPECTRUM / "json" / f"{csv_path.stem}.json").read_text("utf-8"))
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/upload", files={"file": (csv_path.name, csv_path.read_bytes())})
        assert r.status_code == 202, r.text
        ds_id = r.json()["id"]
        assert r.headers["location"] == f"/datasets/{ds_id}"
        status = wait_final(c, ds_id)
        assert status["status"] == "ready", status
        body = c.get(f"/datasets/{ds_id}").json()
        assert body["total_rows"] == len(expected)
        # csv-spectrum headers are already snake_case, so names survive normalisation.
        assert [col["name"] for col in body["columns"]] == list(expected[0])
        served = [{k: as_csv_text(v) for k, v in row.items()} for row in body["rows"]]
        assert served == expected
        report = c.get(f"/datasets/{ds_id}/report")
        assert report.status_code == 200
        listed = c.get("/datasets").json()["items"]
        assert listed[0]["id"] == ds_id


def test_paging_and_projection(server: ApiServer) -> None:
    rows = "".join(f"{i},name {i},{i * 1.5}\n" for i in range(250))
    with httpx.Client(base_url=server.url, timeout=60) as c:
        r = c.post("/upload", files={"file": ("p.csv", f"id,name,score\n{rows}".encode())})
        ds_id = r.json()["id"]
        assert wait_final(c, ds_id)["status"] == "ready"
        seen: list[int] = []
        url: str | None = f"/datasets/{ds_id}?limit=100&columns=id,score"
        while url:
            page = c.get(url).json()
            assert [col["name"] for col in page["columns"]] == ["id", "score"]
            seen.extend(row["id"] for row in page["rows"])
            url = page["next"]
        assert seen == list(range(250))
        page = c.get(f"/datasets/{ds_id}?offset=240&limit=5").json()
        assert [row["id"] for row in page["rows"]] == list(range(240, 245))
        assert page["rows"][0] == {"id": 240, "name": "name 240", "score": 360.0}
        assert c.get(f"/datasets/{ds_id}?offset=1000").json()["rows"] == []
        bad = c.get(f"/datasets/{ds_id}?columns=nope")
        assert bad.status_code == 422 and "nope" in bad.json()["error"]["message"]
        assert c.get(f"/datasets/{ds_id}?limit=10001").status_code == 422


def test_bad_input_fails_with_message(server: ApiServer) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as c:
        # Every data row has too many fields: more than the 10% reject budget.
        r = c.post("/upload", files={"file": ("bad.csv", b"a,b\n1,2,3,4\n5,6,7,8\n")})
        ds_id = r.json()["id"]
        status = wait_final(c, ds_id)
        assert status["status"] == "failed"
        body = c.get(f"/datasets/{ds_id}").json()
        assert body["status"] == "failed"
        assert body["error"] and "Traceback" not in body["error"]
        assert "\n" not in body["error"]


def test_pending_dataset_is_202(server: ApiServer) -> None:
    """A queued dataset nobody launched yet answers 202 with Retry-After."""
    settings = Settings(**_settings_kwargs(server))
    catalog = SqlCatalog.from_url(settings.resolved_database_url())
    ds_id = new_dataset_id()
    catalog.add(
        dataset_id=ds_id,
        filename="x.csv",
        raw_key=keys.raw_key(ds_id),
        sha256="0" * 64,
        size_bytes=1,
    )
    try:
        r = httpx.get(f"{server.url}/datasets/{ds_id}")
        assert r.status_code == 202
        assert r.json() == {"id": ds_id, "name": ds_id, "version": 1, "status": "queued"}
        assert r.headers["retry-after"] and r.headers["x-dataset-version-id"] == ds_id
    finally:
        catalog.mark_failed(ds_id, "test cleanup")


def _settings_kwargs(server: ApiServer) -> dict[str, object]:
    env = server.env()
    kwargs: dict[str, object] = {"data_dir": Path(env["MINI_DATA_DIR"])}
    if env.get("MINI_STORAGE__BACKEND") == "s3":
        kwargs["storage"] = {
            "backend": "s3",
            "endpoint": env["MINI_STORAGE__ENDPOINT"],
            "access_key": env["MINI_STORAGE__ACCESS_KEY"],
            "secret_key": env["MINI_STORAGE__SECRET_KEY"],
            "raw_bucket": env["MINI_STORAGE__RAW_BUCKET"],
            "processed_bucket": env["MINI_STORAGE__PROCESSED_BUCKET"],
        }
    return kwargs


def test_restart_resumes_unfinished_work(tmp_path: Path) -> None:
    """Datasets left queued or processing by a dead API are finished by the next one."""
    data_dir = tmp_path / "resume"
    settings = Settings(data_dir=data_dir)
    store = make_store(settings)
    ensure_buckets(store, settings)
    catalog = SqlCatalog.from_url(settings.resolved_database_url())
    catalog.create_schema()
    ids = []
    for i, stuck_processing in enumerate([False, True]):
        ds_id = new_dataset_id()
        store.put_bytes(settings.storage.raw_bucket, keys.raw_key(ds_id), f"n\n{i}\n".encode())
        catalog.add(
            dataset_id=ds_id,
            filename="r.csv",
            raw_key=keys.raw_key(ds_id),
            sha256="0" * 64,
            size_bytes=4,
        )
        if stuck_processing:
            catalog.mark_processing(ds_id)
        ids.append(ds_id)
    with ApiServer(data_dir) as server, httpx.Client(base_url=server.url) as c:
        for i, ds_id in enumerate(ids):
            assert wait_final(c, ds_id)["status"] == "ready"
            assert c.get(f"/datasets/{ds_id}").json()["rows"] == [{"n": i}]
