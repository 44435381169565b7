"""Structured events: kind, actor, the user concerned, old and new state, the
resources claimed (older events become kind "note", their user the owner of their
instance when it still exists).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("kind", sa.String(32), nullable=False,
                                   server_default="note"))
        batch.add_column(sa.Column("actor", sa.String(143), nullable=False, server_default=""))
        batch.add_column(sa.Column("user_name", sa.String(127), nullable=True))
        batch.add_column(sa.Column("old_state", sa.String(32), nullable=True))
        batch.add_column(sa.Column("new_state", sa.String(32), nullable=True))
        batch.add_column(sa.Column("resources", sa.JSON().with_variant(JSONB(), "postgresql"),
                                   nullable=True))
        batch.create_index("ix_events_kind", ["kind"])
        batch.create_index("ix_events_user_name", ["user_name"])
    op.execute("UPDATE events SET user_name = (SELECT owner FROM instances "
               "WHERE instances.id = events.instance_id) WHERE instance_id IS NOT NULL")


def downgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.drop_index("ix_events_user_name")
        batch.drop_index("ix_events_kind")
        for column in ("resources", "new_state", "old_state", "user_name", "actor", "kind"):
            batch.drop_column(column)
