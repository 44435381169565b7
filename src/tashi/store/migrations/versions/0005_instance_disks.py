"""Instances' disks in a table of their own (image, persistent), indexed by image: who
uses an image is checked at every instance creation.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-24
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    disks = op.create_table(
        "instance_disks",
        sa.Column("instance_id", sa.Integer(),
                  sa.ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer(), primary_key=True),
        sa.Column("image", sa.String(127), nullable=False),
        sa.Column("persistent", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_instance_disks_image", "instance_disks", ["image", "persistent"])
    rows: list[dict[str, Any]] = []
    for instance_id, spec in op.get_bind().execute(sa.text("SELECT id, spec FROM instances")):
        doc = json.loads(spec) if isinstance(spec, str) else spec
        rows += [{"instance_id": instance_id, "position": n, "image": d["image"],
                  "persistent": bool(d.get("persistent", False))}
                 for n, d in enumerate(doc.get("disks", []))]
    if rows:
        op.bulk_insert(disks, rows)


def downgrade() -> None:
    op.drop_index("ix_instance_disks_image", table_name="instance_disks")
    op.drop_table("instance_disks")
