"""Alembic's environment for the catalog.

`Catalog.create_schema` hands over an open connection (already in a
transaction, holding the migration lock). From the command line it connects
to the configured MINI_DATABASE_URL itself.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from core.catalog.search import include_name
from core.catalog.sql import Base, make_engine
from core.settings import Settings

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite cannot ALTER constraints: Alembic copies the table instead.
        render_as_batch=True,
        compare_type=True,
        # The search index is made per dialect by hand, not from the model.
        include_name=include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        context.configure(
            url=Settings().resolved_database_url(),
            target_metadata=Base.metadata,
            literal_binds=True,
            render_as_batch=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        return
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(Settings().resolved_database_url())
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


main()
