"""Metadata and search: what a person says about a dataset (kept by name, across its
versions), each version's column names, and the full-text index over both.

The index is made per dialect: an FTS5 virtual table on SQLite, a table of tsvectors
with a GIN index on PostgreSQL (core/catalog/search.py). Existing datasets are indexed
by name; versions made ready before this revision have no recorded column names, so
their columns are searchable from their dataset's next ready version on.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen here, as this revision made them (the model may move on).
SEARCH_TABLE = "dataset_search"
FTS_COLUMNS = ("dataset", "name", "title", "tags", "description", "columns")


def upgrade() -> None:
    op.create_table(
        "dataset_metadata",
        sa.Column("name", sa.String(length=255), primary_key=True),
        sa.Column("title", sa.String(length=200), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", sa.JSON(), nullable=True),
        sa.Column("licence", sa.String(length=100), nullable=True),
        sa.Column("source", sa.String(length=2048), nullable=True),
        sa.Column("columns", sa.JSON(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("columns", sa.JSON(), nullable=True))
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute(
            f"CREATE TABLE {SEARCH_TABLE} "
            "(name VARCHAR(255) PRIMARY KEY, document TSVECTOR NOT NULL)"
        )
        op.execute(
            f"CREATE INDEX ix_{SEARCH_TABLE}_document ON {SEARCH_TABLE} USING gin (document)"
        )
    else:
        # The words are folded in Python before they get here (search.py), the same for
        # both backends; unicode61 only splits them.
        op.execute(
            f"CREATE VIRTUAL TABLE {SEARCH_TABLE} USING fts5("
            "dataset UNINDEXED, name, title, tags, description, columns, "
            "tokenize = 'unicode61 remove_diacritics 0')"
        )
    _index_existing_names(bind)


def _index_existing_names(bind: sa.Connection) -> None:
    # Imported here: only this revision's upgrade needs the folding rules.
    from core.catalog.search import document

    names = list(bind.execute(sa.text("SELECT name FROM dataset_names")).scalars())
    for name in names:
        fields = document(
            name, title=None, description=None, tags=(), column_names=(), column_descriptions={}
        ).fields()
        if bind.dialect.name == "postgresql":
            bind.execute(
                sa.text(
                    f"INSERT INTO {SEARCH_TABLE} (name, document) "
                    "VALUES (:dataset, setweight(to_tsvector('simple', :name), 'A'))"
                ),
                fields,
            )
        else:
            columns = ", ".join(FTS_COLUMNS)
            values = ", ".join(f":{c}" for c in FTS_COLUMNS)
            bind.execute(
                sa.text(f"INSERT INTO {SEARCH_TABLE} ({columns}) VALUES ({values})"), fields
            )


def downgrade() -> None:
    op.execute(f"DROP TABLE IF EXISTS {SEARCH_TABLE}")
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("columns")
    op.drop_table("dataset_metadata")
