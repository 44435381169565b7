"""Claims as records of their own: what each instance holds on which host (role
``primary`` on its bound host; ``incoming`` on a migration target), the resource vector
claimed, and since when. Filled from the instances that hold resources now.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None

#: HOLDS_RESOURCES as it is at this revision (a migration never imports live code).
HOLDING = ("Activating", "Running", "Pausing", "Paused", "Unpausing", "Suspending",
           "Resuming", "MigratePrep", "MigrateTrans", "Orphaned", "ShuttingDown",
           "Destroying")


def upgrade() -> None:
    claims = op.create_table(
        "claims",
        sa.Column("instance_id", sa.Integer(),
                  sa.ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("role", sa.String(16), primary_key=True),
        sa.Column("host", sa.String(127), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_mib", sa.Integer(), nullable=False),
        sa.Column("disk_gib", sa.Integer(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_claims_host", "claims", ["host"])
    instances = sa.table("instances", sa.column("id", sa.Integer()),
                         sa.column("host", sa.String()), sa.column("state", sa.String()),
                         sa.column("spec", sa.JSON()), sa.column("updated_at", sa.DateTime()))
    conn = op.get_bind()
    rows = conn.execute(sa.select(instances).where(instances.c.state.in_(HOLDING),
                                                   instances.c.host.is_not(None)))
    values = []
    for r in rows:
        spec = r.spec if isinstance(r.spec, dict) else json.loads(r.spec)
        values.append({"instance_id": r.id, "role": "primary", "host": r.host,
                       "cores": int(spec.get("cores", 0)),
                       "memory_mib": int(spec.get("memory_mib", 0)),
                       "disk_gib": int(spec.get("disk_gib") or 0),
                       "since": r.updated_at})  # as stored: UTC
    if values:
        op.bulk_insert(claims, values)


def downgrade() -> None:
    op.drop_index("ix_claims_host", "claims")
    op.drop_table("claims")
