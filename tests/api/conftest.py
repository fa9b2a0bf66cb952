from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.catalog import Catalog, SqlCatalog, Status
from tests.servers.api import ApiServer


@pytest.fixture(scope="module")
def local_api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The embedded default: local object store, SQLite, local runner."""
    with ApiServer(tmp_path_factory.mktemp("api-local")) as server:
        yield server


@pytest.fixture
def client(local_api: ApiServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_api.url, timeout=60) as c:
        yield c


def catalog_of(server: ApiServer) -> Catalog:
    return SqlCatalog.from_url(f"sqlite:///{server.data_dir.resolve() / 'catalog.sqlite3'}")


def version_count(catalog: Catalog) -> int:
    """Every version the catalog holds, whatever its status."""
    return len(catalog.with_status(list(Status)))


def local_objects(server: ApiServer, bucket: str = "raw") -> list[Path]:
    root = server.data_dir / "objects" / bucket
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []
