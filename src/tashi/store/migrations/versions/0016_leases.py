"""Leases (:mod:`tashi.domain.leases`): one row per lease, its holder (a manager
replica's id), its fencing token (one more on every new acquisition) and when it
expires, in epoch seconds by the database's clock (``now()`` on PostgreSQL), so the
same arithmetic runs on sqlite and PostgreSQL and the replicas' clocks never matter.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision: str | None = "0015"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "leases",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(191), nullable=False),
        sa.Column("token", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("leases")
