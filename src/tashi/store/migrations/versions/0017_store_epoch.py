"""The store's epoch: a counter that every write of an instance row moves on (a
trigger, so no write path can forget it), carried by each desired state an agent is
sent. An agent refuses a desired state of an epoch below one it already acted on: a
store restored from an older backup cannot make it destroy VMs it no longer knows of.

- sqlite (and the pickle store): a one-row table ``store_epoch``, moved on by row
  triggers (sqlite's writes are serial anyway);
- PostgreSQL: a sequence ``store_epoch_seq`` (``nextval`` takes no lock, so replicas'
  writes never queue on it), moved on by a statement trigger; a dump restores its
  value as of the dump.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision: str | None = "0016"
branch_labels: str | None = None
depends_on: str | None = None

_EVENTS = ("INSERT", "UPDATE", "DELETE")


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE SEQUENCE store_epoch_seq")
        op.execute("CREATE FUNCTION tashi_store_epoch() RETURNS trigger LANGUAGE plpgsql AS "
                   "$$ BEGIN PERFORM nextval('store_epoch_seq'); RETURN NULL; END $$")
        op.execute("CREATE TRIGGER instances_epoch AFTER INSERT OR UPDATE OR DELETE ON "
                   "instances FOR EACH STATEMENT EXECUTE FUNCTION tashi_store_epoch()")
        return
    op.create_table("store_epoch", sa.Column("id", sa.Integer(), primary_key=True),
                    sa.Column("value", sa.BigInteger(), nullable=False))
    op.execute("INSERT INTO store_epoch (id, value) VALUES (1, 0)")
    for event in _EVENTS:
        op.execute(f"CREATE TRIGGER instances_epoch_{event.lower()} AFTER {event} ON "  # noqa: S608 (our constants)
                   "instances BEGIN UPDATE store_epoch SET value = value + 1; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER instances_epoch ON instances")
        op.execute("DROP FUNCTION tashi_store_epoch()")
        op.execute("DROP SEQUENCE store_epoch_seq")
        return
    for event in _EVENTS:
        op.execute(f"DROP TRIGGER instances_epoch_{event.lower()}")
    op.drop_table("store_epoch")
