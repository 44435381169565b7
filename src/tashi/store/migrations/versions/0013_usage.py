"""The latest usage figures of each instance's VM (``usage``, one row per instance
whose host sent some): CPU seconds, resident memory, disk and network bytes, counted
since the VM's process started, with the host that measured them and when. They go
with their instance.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision: str | None = "0012"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "usage",
        sa.Column("instance_id", sa.Integer(),
                  sa.ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("host", sa.String(127), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cpu_seconds", sa.Double(), nullable=False),
        sa.Column("memory_rss_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_read_bytes", sa.BigInteger(), nullable=False),
        sa.Column("disk_written_bytes", sa.BigInteger(), nullable=False),
        sa.Column("net_rx_bytes", sa.BigInteger(), nullable=True),
        sa.Column("net_tx_bytes", sa.BigInteger(), nullable=True),
    )


def downgrade() -> None:
    op.drop_table("usage")
