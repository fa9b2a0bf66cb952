"""Dataset versions: uploads sharing a name are versions 1, 2, ... of one dataset.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Batch mode: SQLite can only add a unique constraint by copying the table.
    with op.batch_alter_table("datasets") as batch:
        batch.add_column(sa.Column("name", sa.String(length=255), nullable=True))
        batch.add_column(sa.Column("version", sa.Integer(), nullable=True))
        batch.create_index("ix_datasets_name", ["name"])
        batch.create_unique_constraint("uq_datasets_name_version", ["name", "version"])


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_constraint("uq_datasets_name_version", type_="unique")
        batch.drop_index("ix_datasets_name")
        batch.drop_column("version")
        batch.drop_column("name")
