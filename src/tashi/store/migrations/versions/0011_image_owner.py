"""Images get a visibility (``private``: their owner's; ``public``: every user's) and
the least memory their guest boots with (``min_memory_mib``, 0: not known). Images
made before namespaces keep their bare names; those owned by an admin become public
(they were what every user booted from), the others private.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("visibility", sa.String(16), nullable=False,
                                   server_default="private"))
        batch.add_column(sa.Column("min_memory_mib", sa.Integer(), nullable=False,
                                   server_default="0"))
    op.execute("UPDATE images SET visibility = 'public' WHERE owner IN "
               "(SELECT name FROM users WHERE role = 'admin')")


def downgrade() -> None:
    with op.batch_alter_table("images") as batch:
        batch.drop_column("min_memory_mib")
        batch.drop_column("visibility")
