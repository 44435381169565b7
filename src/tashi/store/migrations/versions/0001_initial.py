"""The initial schema.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

NAME = 127
UTC_TIME = sa.DateTime(timezone=True)  # stored as UTC; see tashi.store.sql.tables
JSON_DOC = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("token_hash", sa.String(255), nullable=False, unique=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column(
            "user_name", sa.String(NAME),
            sa.ForeignKey("users.name", ondelete="CASCADE"), nullable=True, index=True,
        ),
        sa.Column("host_name", sa.String(NAME), nullable=True, index=True),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("expires_at", UTC_TIME, nullable=True),
        sa.CheckConstraint(
            "(user_name IS NULL) <> (host_name IS NULL)", name="ck_tokens_one_holder"
        ),
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(NAME), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "hosts",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("cores", sa.Integer, nullable=False),
        sa.Column("memory_mib", sa.Integer, nullable=False),
        sa.Column("last_heartbeat", UTC_TIME, nullable=True),
        sa.Column("agent_version", sa.String(64), nullable=False),
        sa.Column("registered_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("owner", sa.String(NAME), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("virtual_size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    op.create_table(
        "networks",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(NAME), nullable=False, unique=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
    )
    _create_instances()
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.Integer, nullable=True, index=True),  # no FK: outlives it
        sa.Column("host", sa.String(NAME), nullable=True, index=True),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("at", UTC_TIME, nullable=False),
        sqlite_autoincrement=True,
    )


def _create_instances() -> None:
    op.create_table(
        "instances",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(NAME), nullable=False),
        sa.Column("owner", sa.String(NAME), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("host", sa.String(NAME), nullable=True),
        sa.Column("spec", JSON_DOC, nullable=False),
        sa.Column("status", JSON_DOC, nullable=False),
        sa.Column("generation", sa.Integer, nullable=False),
        sa.Column("created_at", UTC_TIME, nullable=False),
        sa.Column("updated_at", UTC_TIME, nullable=False),
        sa.UniqueConstraint("owner", "name", name="uq_instances_owner_name"),
        sqlite_autoincrement=True,  # never reuse the id of a deleted instance
    )
    op.create_index("ix_instances_state", "instances", ["state"])
    op.create_index("ix_instances_host", "instances", ["host"])
    op.create_table(
        "consoles",
        sa.Column(
            "instance_id", sa.Integer,
            sa.ForeignKey("instances.id", ondelete="CASCADE"), primary_key=True,
        ),
        sa.Column("text", sa.Text, nullable=False),
    )


def downgrade() -> None:
    for table in ("events", "consoles", "instances", "networks", "images", "hosts",
                  "settings", "tokens", "users"):
        op.drop_table(table)
