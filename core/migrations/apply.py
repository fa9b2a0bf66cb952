"""Bring a catalog database to the newest schema, one migrator at a time.

Several API replicas may start together: on PostgreSQL the upgrade runs in
one transaction holding an advisory lock, so the others wait and then find
nothing left to do. SQLite gets the same from a lock file beside the database.
"""

from __future__ import annotations

import fcntl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, inspect, text

SCRIPT_LOCATION = Path(__file__).resolve().parent
# Any fixed 64-bit number, the same in every replica; these bytes spell "minipipe".
ADVISORY_LOCK_KEY = 0x6D696E6970697065
# The revision that matches the schema `Base.metadata.create_all` made before
# migrations existed; such databases are adopted at it rather than recreated.
PRE_ALEMBIC_REVISION = "0001"
# Alembic's `context` and `op` are module-level proxies: within one process, one
# migration at a time.
_IN_PROCESS = threading.Lock()


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration in code: no alembic.ini is needed at run time."""
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    if connection is not None:
        # env.py runs the migrations on this connection, inside its transaction.
        config.attributes["connection"] = connection
    return config


@contextmanager
def _sqlite_lock(engine: Engine) -> Iterator[None]:
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with Path(f"{database}.migrate-lock").open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def upgrade_to_head(engine: Engine) -> None:
    with _IN_PROCESS, _sqlite_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Released at commit or rollback, so a crashed migrator never wedges the rest.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        config = alembic_config(conn)
        tables = set(inspect(conn).get_table_names())
        if "datasets" in tables and "alembic_version" not in tables:
            command.stamp(config, PRE_ALEMBIC_REVISION)
        command.upgrade(config, "head")
