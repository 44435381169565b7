"""Hosts keep what their drivers can do (``capabilities``, a JSON document: hypervisor
and version, accelerator, CPU model, machine types, NIC models, network kinds, disk
kinds and formats, optional abilities), as their agent last reported it in a
heartbeat. NULL: the agent never reported any (it is older, or has not heartbeated).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None

JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("capabilities", JSON_DOC, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("capabilities")
