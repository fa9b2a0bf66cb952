"""Alembic migrations: they agree with the model, adopt old databases, and tolerate races.

Each test runs on SQLite and on a real PostgreSQL (conftest.py).
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from core.catalog import (
    Base,
    Catalog,
    CatalogUnavailable,
    SqlCatalog,
    Status,
    make_engine,
    new_dataset_id,
)
from core.catalog.search import include_name
from core.migrations.apply import alembic_config
from tests.catalog.conftest import MakeCatalog
from tests.catalog.threads import race
from tests.servers.postgres import PostgresServer

ROOT = Path(__file__).resolve().parents[2]
HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def schema_diff(engine: sa.Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "include_name": include_name}
        )
        return list(compare_metadata(context, Base.metadata))


def revisions(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.scalars(sa.text("SELECT version_num FROM alembic_version")))


def test_one_head_and_a_linear_history() -> None:
    script = ScriptDirectory.from_config(alembic_config())
    assert script.get_heads() == [HEAD]
    assert [r.revision for r in script.walk_revisions()] == [
        "0007",
        "0006",
        "0005",
        "0004",
        "0003",
        "0002",
        "0001",
    ]


def test_migrations_match_the_model(catalog: Catalog) -> None:
    assert revisions(catalog.engine) == [HEAD]
    assert schema_diff(catalog.engine) == []


def test_create_schema_twice_is_a_no_op(catalog: Catalog) -> None:
    ds_id = new_dataset_id()
    catalog.add(dataset_id=ds_id, filename="a.csv", raw_key="k", sha256="0" * 64, size_bytes=1)
    catalog.create_schema()
    assert revisions(catalog.engine) == [HEAD]
    assert catalog.get(ds_id) is not None


def test_downgrade_to_base_and_back(catalog: Catalog) -> None:
    with catalog.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    with catalog.engine.connect() as conn:
        assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}
    catalog.create_schema()
    assert revisions(catalog.engine) == [HEAD]
    assert schema_diff(catalog.engine) == []


# The table exactly as `Base.metadata.create_all` made it before migrations existed.
PRE_ALEMBIC = sa.MetaData()
sa.Table(
    "datasets",
    PRE_ALEMBIC,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("filename", sa.String(1024), nullable=False),
    sa.Column("raw_key", sa.String(1024), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False, index=True),
    sa.Column("error", sa.Text, nullable=True),
    sa.Column("options", sa.JSON, nullable=False),
    sa.Column("rows_in", sa.BigInteger, nullable=True),
    sa.Column("rows_out", sa.BigInteger, nullable=True),
    sa.Column("rows_rejected", sa.BigInteger, nullable=True),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
)


def test_a_pre_alembic_catalog_is_adopted_with_its_rows(make_catalog: MakeCatalog) -> None:
    catalog = make_catalog()
    PRE_ALEMBIC.create_all(catalog.engine)
    ds_id = new_dataset_id()
    with catalog.engine.begin() as conn:
        conn.execute(
            PRE_ALEMBIC.tables["datasets"].insert(),
            {
                "id": ds_id,
                "filename": "old.csv",
                "raw_key": "k",
                "sha256": "0" * 64,
                "size_bytes": 7,
                "status": "ready",
                "options": {"delimiter": ";"},
                "attempts": 1,
                "created_at": datetime.now(UTC),
            },
        )
    catalog.create_schema()
    assert revisions(catalog.engine) == [HEAD]
    assert schema_diff(catalog.engine) == []
    old = catalog.get(ds_id)
    assert old is not None
    # A row from before names became a dataset of its own, named by its id (0003).
    assert (old.status, old.options, old.name, old.version) == (
        Status.ready,
        {"delimiter": ";"},
        ds_id,
        1,
    )
    new_id = new_dataset_id()
    catalog.add(
        dataset_id=new_id,
        filename="n.csv",
        raw_key="n",
        sha256="1" * 64,
        size_bytes=1,
        name="sales",
    )
    assert [d.version for d in catalog.versions("sales")] == [1]


def test_a_0002_catalog_with_data_upgrades_with_nothing_lost(make_catalog: MakeCatalog) -> None:
    """Today's deployed schema (0002: versions, no dataset names) with named and unnamed
    uploads in every state, upgraded to head by the API's own start-up path."""
    catalog = make_catalog()
    with catalog.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0002")
    at = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
    rows = [
        {"id": "a" * 32, "name": "sales", "version": 1, "status": "ready", "rows_out": 10},
        {"id": "b" * 32, "name": "sales", "version": 2, "status": "failed", "rows_out": None},
        {"id": "c" * 32, "name": "sales", "version": 3, "status": "queued", "rows_out": None},
        {"id": "d" * 32, "name": "d" * 32, "version": 1, "status": "ready", "rows_out": 4},
    ]
    table = sa.Table("datasets", sa.MetaData(), autoload_with=catalog.engine)
    with catalog.engine.begin() as conn:
        for i, row in enumerate(rows):
            conn.execute(
                table.insert(),
                {
                    **row,
                    "filename": f"f{i}.csv",
                    "raw_key": f"{row['id']}/source.csv",
                    "sha256": str(i) * 64,
                    "size_bytes": 100 + i,
                    "error": "bad" if row["status"] == "failed" else None,
                    "options": {"delimiter": ";"} if i == 0 else {},
                    "rows_in": row["rows_out"],
                    "rows_rejected": 0 if row["rows_out"] is not None else None,
                    "attempts": 1,
                    "created_at": at,
                },
            )
        before = [dict(r._mapping) for r in conn.execute(sa.select(table).order_by(table.c.id))]
    catalog.create_schema()
    assert revisions(catalog.engine) == [HEAD]
    assert schema_diff(catalog.engine) == []
    upgraded = sa.Table("datasets", sa.MetaData(), autoload_with=catalog.engine)
    with catalog.engine.connect() as conn:
        after = [
            dict(r._mapping) for r in conn.execute(sa.select(upgraded).order_by(upgraded.c.id))
        ]
    for old, new in zip(before, after, strict=True):
        assert {k: new[k] for k in old} == old
        assert new["schema_diff"] is None
    assert [d.version for d in catalog.versions("sales")] == [1, 2, 3]
    assert catalog.policy("sales").value == "pin"
    families, total = catalog.families()
    assert total == 2
    by_name = {f.name: f for f in families}
    assert by_name["sales"].versions == 3 and by_name["sales"].latest.version == 3
    assert by_name["sales"].latest_ready is not None
    assert by_name["sales"].latest_ready.id == "a" * 32
    # The next upload continues the numbering.
    new_id = new_dataset_id()
    catalog.add(
        dataset_id=new_id, filename="n", raw_key="n", sha256="e" * 64, size_bytes=1, name="sales"
    )
    assert catalog.get(new_id) is not None and catalog.get(new_id).version == 4  # type: ignore[union-attr]


# An API replica that starts once per "go" line: connected beforehand, so the
# migrations themselves race, not process start-up.
REPLICA = """
import sys
from core.catalog import SqlCatalog
catalog = SqlCatalog.from_url(sys.argv[1])
catalog.ping()
print("ready", flush=True)
for _ in sys.stdin:
    try:
        catalog.create_schema()
        print("ok", flush=True)
    except Exception as exc:
        print("error:", repr(exc).replace(chr(10), " "), flush=True)
"""
ROUNDS = 5


def drop_everything(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
            conn.execute(sa.text("DROP TABLE IF EXISTS datasets"))
            conn.execute(sa.text("DROP TABLE IF EXISTS dataset_names"))
            conn.execute(sa.text("DROP TABLE IF EXISTS revoked_sessions"))
            conn.execute(sa.text("DROP TABLE IF EXISTS webhook_targets"))
            conn.execute(sa.text("DROP TABLE IF EXISTS webhook_deliveries"))
            conn.execute(sa.text("DROP TABLE IF EXISTS dataset_metadata"))
            conn.execute(sa.text("DROP TABLE IF EXISTS dataset_search"))
    finally:
        engine.dispose()


def test_replica_processes_racing_create_schema(database_url: str) -> None:
    """Replicas start at once on an empty database: every one succeeds, it is migrated once."""
    replicas = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, database_url],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    engine = make_engine(database_url)
    try:
        for proc in replicas:
            assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        for _ in range(ROUNDS):
            drop_everything(database_url)
            for proc in replicas:
                assert proc.stdin is not None
                proc.stdin.write("go\n")
                proc.stdin.flush()
            answers = [proc.stdout.readline().strip() for proc in replicas if proc.stdout]
            assert answers == ["ok"] * len(replicas)
            assert revisions(engine) == [HEAD]
            assert schema_diff(engine) == []
    finally:
        engine.dispose()
        for proc in replicas:
            proc.kill()
            proc.wait()


def test_threads_racing_create_schema(make_catalog: MakeCatalog) -> None:
    replicas = [make_catalog() for _ in range(4)]
    race(len(replicas), lambda i: replicas[i].create_schema())
    assert revisions(replicas[0].engine) == [HEAD]
    assert schema_diff(replicas[0].engine) == []
    ds_id = new_dataset_id()
    replicas[1].add(dataset_id=ds_id, filename="a", raw_key="k", sha256="0" * 64, size_bytes=1)
    assert replicas[2].get(ds_id) is not None


def test_wrong_password_is_unavailable_not_a_crash(postgres: PostgresServer) -> None:
    with postgres.database() as name:
        catalog = SqlCatalog.from_url(postgres.url(name, password="not-the-password"))
        try:
            with pytest.raises(CatalogUnavailable, match="password authentication failed"):
                catalog.create_schema()
            with pytest.raises(CatalogUnavailable, match="password authentication failed"):
                catalog.ping()
        finally:
            catalog.engine.dispose()
