"""A running VM's display: its VNC and screenshot requests and their answers
(``displays``, one row per instance that was asked one), and the last screenshot of
each instance (``screenshots``, a PNG). Both go with their instance.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision: str | None = "0011"
branch_labels: str | None = None
depends_on: str | None = None


def _instance_id() -> sa.Column[int]:
    return sa.Column("instance_id", sa.Integer(),
                     sa.ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True)


def upgrade() -> None:
    op.create_table(
        "displays",
        _instance_id(),
        sa.Column("vnc_asked", sa.Integer(), nullable=False),
        sa.Column("vnc_open", sa.Boolean(), nullable=False),
        sa.Column("vnc_password", sa.String(16), nullable=False),
        sa.Column("vnc_done", sa.Integer(), nullable=False),
        sa.Column("vnc_host", sa.String(127), nullable=False),
        sa.Column("vnc_port", sa.Integer(), nullable=False),
        sa.Column("vnc_error", sa.Text(), nullable=False),
        sa.Column("shots_asked", sa.Integer(), nullable=False),
        sa.Column("shots_done", sa.Integer(), nullable=False),
        sa.Column("shot_error", sa.Text(), nullable=False),
    )
    op.create_table(
        "screenshots",
        _instance_id(),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("png", sa.LargeBinary(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("taken_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("screenshots")
    op.drop_table("displays")
