"""GET /datasets/{id}/logs with the local runner: the same route, the same storage key.

No control plane here: the embedded default saves its subprocess's output where
the Kubernetes runner saves the pod log, and the route reads it from there.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core import keys
from tests.kube.conftest import GOOD_CSV, SHORT_CSV, upload, wait_final
from tests.servers.api import ApiServer


@pytest.fixture(scope="module")
def local_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    with ApiServer(tmp_path_factory.mktemp("logs-local")) as server:
        yield server


def test_logs_of_a_ready_dataset(local_api: ApiServer) -> None:
    with httpx.Client(base_url=local_api.url, timeout=30) as api:
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        assert wait_final(api, dataset_id)["status"] == "ready"
        r = api.get(f"/datasets/{dataset_id}/logs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text.splitlines() == [
        f"processing dataset {dataset_id}",
        f"dataset {dataset_id} ready: 3 rows in, 3 out, 0 rejected",
    ]
    saved = local_api.data_dir / "objects" / "processed" / keys.logs_key(dataset_id)
    assert saved.read_text() == r.text


def test_logs_of_a_failed_dataset_end_with_the_error(local_api: ApiServer) -> None:
    with httpx.Client(base_url=local_api.url, timeout=30) as api:
        dataset_id = upload(api, SHORT_CSV, header_row=9)
        status = wait_final(api, dataset_id)
        lines = api.get(f"/datasets/{dataset_id}/logs").text.splitlines()
    assert status["status"] == "failed"
    assert lines[-1] == f"error: {status['error']}"


def test_logs_of_unknown_or_unsaved_datasets(local_api: ApiServer, tmp_path: Path) -> None:
    with httpx.Client(base_url=local_api.url, timeout=30) as api:
        missing = api.get(f"/datasets/{'0' * 32}/logs")
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        dataset_id = upload(api, GOOD_CSV, delimiter=";")
        wait_final(api, dataset_id)
        saved = local_api.data_dir / "objects" / "processed" / keys.logs_key(dataset_id)
        saved.unlink()
        gone = api.get(f"/datasets/{dataset_id}/logs")
    assert gone.status_code == 404
    assert gone.json()["error"]["message"] == (
        f"no logs were saved for version 1 of dataset {dataset_id!r}"
    )
