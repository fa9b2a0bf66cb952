"""Every catalog test runs on SQLite (the embedded default) and on a real PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from core.catalog import Catalog, SqlCatalog
from tests.servers.postgres import PostgresServer

BACKENDS = ["sqlite", "postgresql"]
MakeCatalog = Callable[[], Catalog]


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of each backend; the PostgreSQL one is dropped afterwards."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
        return
    # Looked up lazily, so `-k sqlite` runs never start the server.
    server: PostgresServer = request.getfixturevalue("postgres")
    with server.database() as name:
        yield server.url(name)


@pytest.fixture
def make_catalog(database_url: str) -> Iterator[MakeCatalog]:
    """Catalogs on the test's database (each its own engine, like separate replicas)."""
    made: list[Catalog] = []

    def make() -> Catalog:
        made.append(SqlCatalog.from_url(database_url))
        return made[-1]

    yield make
    for cat in made:
        cat.engine.dispose()


@pytest.fixture
def catalog(make_catalog: MakeCatalog) -> Catalog:
    cat = make_catalog()
    cat.create_schema()
    return cat
