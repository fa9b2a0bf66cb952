"""Datasets as names: one row per name (its schema-change policy), and each version's
schema diff against the version served before it.

Every existing name gets a row with the default policy, so nothing already uploaded
loses its place; existing versions keep every column (the diff is null: not recorded).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dataset_names",
        sa.Column("name", sa.String(length=255), primary_key=True),
        sa.Column("on_schema_change", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # Older rows may have no name (before 0002); they are families of one, named by id.
    op.execute("UPDATE datasets SET name = id WHERE name IS NULL")
    op.execute("UPDATE datasets SET version = 1 WHERE version IS NULL")
    op.execute(
        "INSERT INTO dataset_names (name, on_schema_change, created_at) "
        "SELECT name, 'pin', MIN(created_at) FROM datasets GROUP BY name"
    )
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("schema_diff", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("schema_diff")
    op.drop_table("dataset_names")
