"""Users: an argon2 password hash (nullable: a user may have API tokens only).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    # sqlite adds a nullable column in place: batch mode does not copy the table
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(255), nullable=True))


def downgrade() -> None:
    # Never recreate "users" on sqlite: dropping it would cascade to every user's tokens.
    # sqlite 3.35 and later drop a column in place.
    with op.batch_alter_table("users", recreate="never") as batch:
        batch.drop_column("password_hash")
