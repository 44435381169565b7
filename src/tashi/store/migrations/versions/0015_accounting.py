"""Accounting (:mod:`tashi.domain.accounting`): what was held, what was used, per interval.

- ``allocations``: the ledger of what each instance held, and where: one row per claim
  (and per saved state in the suspend directory, host ``''``) from the moment it was
  taken (``since``) to the moment it was let go (``until``, NULL while held). Written
  in the same transaction as the claims, so it is exactly what they were. No foreign
  key: the ledger outlives its instance. Times are epoch seconds (``float``): interval
  arithmetic is then the same SQL on SQLite and PostgreSQL.
- ``usage_records``: per instance, host and interval (``start_s``, ``length_s``): the
  allocated core-, MiB- and GiB-seconds (from the ledger, set when the interval closes)
  and the consumed CPU seconds, disk and network bytes (the deltas of the agents'
  reports, added as they come).
- ``usage_days``: the same sums per instance, host and UTC day, added when each
  interval closes (daily and monthly reports read these).
- ``usage_user_days`` and ``usage_host_days``: the same sums per UTC day and user, and
  per UTC day and host (reports per user or host read these, not every instance's).
- ``usage_closing``: one row: the length of the intervals (seconds, dividing a day;
  changed only while there is no record) and the end of the last closed interval
  (NULL: none yet).
  Closing an interval moves it forward, compare-and-set, in the transaction that
  writes the interval's records: each interval is closed exactly once, whichever
  replica and however many restarts.
- ``usage_senders``: per host, the agent's sender id and the sequence number of its
  last report counted: a report re-sent, or older, is refused and counts nothing.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision: str | None = "0014"
branch_labels: str | None = None
depends_on: str | None = None

NAME = 127


def _figures() -> list[sa.Column[object]]:
    return [
        sa.Column("core_seconds", sa.Double(), nullable=False, server_default="0"),
        sa.Column("memory_mib_seconds", sa.Double(), nullable=False, server_default="0"),
        sa.Column("disk_gib_seconds", sa.Double(), nullable=False, server_default="0"),
        sa.Column("cpu_seconds_used", sa.Double(), nullable=False, server_default="0"),
        sa.Column("disk_read_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("disk_written_bytes", sa.BigInteger(), nullable=False, server_default="0"),
        sa.Column("net_rx_bytes", sa.BigInteger(), nullable=True),
        sa.Column("net_tx_bytes", sa.BigInteger(), nullable=True),
    ]


def _owner() -> list[sa.Column[object]]:
    return [
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("host", sa.String(NAME), nullable=False),
        sa.Column("start_s", sa.Double(), nullable=False),
        sa.Column("length_s", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(NAME), nullable=False),
        sa.Column("user_name", sa.String(NAME), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "allocations",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(NAME), nullable=False),
        sa.Column("user_name", sa.String(NAME), nullable=False),
        sa.Column("host", sa.String(NAME), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("cores", sa.Integer(), nullable=False),
        sa.Column("memory_mib", sa.Integer(), nullable=False),
        sa.Column("disk_gib", sa.Integer(), nullable=False),
        sa.Column("since", sa.Double(), nullable=False),
        sa.Column("until", sa.Double(), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_allocations_instance", "allocations", ["instance_id", "role"])
    op.create_index("ix_allocations_until", "allocations", ["until"])
    for table in ("usage_records", "usage_days"):
        op.create_table(
            table, *_owner(), *_figures(),
            sa.PrimaryKeyConstraint("instance_id", "host", "start_s"),
        )
        op.create_index(f"ix_{table}_start", table, ["start_s"])
        op.create_index(f"ix_{table}_user", table, ["user_name", "start_s"])
        op.create_index(f"ix_{table}_host", table, ["host", "start_s"])
    for table, who in (("usage_user_days", "user_name"), ("usage_host_days", "host")):
        op.create_table(
            table,
            sa.Column("start_s", sa.Double(), nullable=False),
            sa.Column(who, sa.String(NAME), nullable=False),
            *_figures(),
            sa.PrimaryKeyConstraint("start_s", who),
        )
    op.create_table(
        "usage_closing",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("closed_until", sa.Double(), nullable=True),
        sa.Column("length_s", sa.Integer(), nullable=False),
        sa.CheckConstraint("id = 1", name="ck_usage_closing_one_row"),
    )
    op.execute("INSERT INTO usage_closing (id, closed_until, length_s) VALUES (1, NULL, 3600)")
    op.create_table(
        "usage_senders",
        sa.Column("host", sa.String(NAME),
                  sa.ForeignKey("hosts.name", ondelete="CASCADE"), primary_key=True),
        sa.Column("sender", sa.String(64), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("usage_senders")
    op.drop_table("usage_closing")
    op.drop_table("usage_host_days")
    op.drop_table("usage_user_days")
    op.drop_table("usage_days")
    op.drop_table("usage_records")
    op.drop_table("allocations")
