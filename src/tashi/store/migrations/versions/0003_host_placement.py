"""Hosts: the hypervisor their agent reports, and the users they are reserved for.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("hypervisor", sa.String(64), nullable=False,
                                   server_default=""))
        batch.add_column(sa.Column("reserved_for", JSON_DOC, nullable=False,
                                   server_default=sa.text("'[]'")))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("reserved_for")
        batch.drop_column("hypervisor")
