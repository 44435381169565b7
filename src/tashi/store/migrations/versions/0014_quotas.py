"""Per-user quotas (``quotas``, one row per user with a limit): the most instances,
cores, memory (MiB), blank and scratch disk (GiB) and physical machines the user's
instances may use; NULL is no limit. The row goes with its user. Creates and resumes
lock it (PostgreSQL ``FOR UPDATE``) while they check it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-09
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision: str | None = "0013"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "quotas",
        sa.Column("user_name", sa.String(127),
                  sa.ForeignKey("users.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("instances", sa.Integer(), nullable=True),
        sa.Column("cores", sa.Integer(), nullable=True),
        sa.Column("memory_mib", sa.Integer(), nullable=True),
        sa.Column("disk_gib", sa.Integer(), nullable=True),
        sa.Column("machines", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("quotas")
