"""Users: the user source each comes from ("local": Tashi's own table).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("source", sa.String(32), nullable=False,
                                   server_default="local"))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("source")
