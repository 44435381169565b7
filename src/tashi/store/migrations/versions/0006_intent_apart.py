"""Intent apart from observation: the wanted power state moves into each instance's
spec, the facts of its binding into its status, and hosts get a ``silent`` flag (set
by the liveness sweep) from which an instance's shown state is derived.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

#: What each stored state meant, now said by the spec's power and the status's facts.
_POWER = {"ShuttingDown": "stopped", "Destroying": "deleted"}
_DOC = sa.JSON().with_variant(JSONB(), "postgresql")
_INSTANCES = sa.table("instances", sa.column("id", sa.Integer()), sa.column("spec", _DOC),
                      sa.column("status", _DOC))
_RAN = {"Running", "Pausing", "Paused", "Unpausing", "Suspending", "Resuming",
        "MigratePrep", "MigrateTrans", "Orphaned", "Exited"}


def upgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.add_column(sa.Column("silent", sa.Boolean(), nullable=False,
                                   server_default=sa.false()))
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, state, spec, status FROM instances")).all()
    for iid, state, spec, status in rows:
        spec_doc, status_doc = _doc(spec), _doc(status)
        if state in _POWER:
            spec_doc["power"] = _POWER[state]
        if state in _RAN:
            status_doc["ran"] = True
        if state == "Exited":
            status_doc["ended"] = True
        if state == "Held":
            status_doc["held"] = True
        conn.execute(sa.update(_INSTANCES).where(_INSTANCES.c.id == iid)
                     .values(spec=spec_doc, status=status_doc))


def _doc(value: Any) -> dict[str, Any]:
    return dict(json.loads(value) if isinstance(value, str) else value)


def downgrade() -> None:
    with op.batch_alter_table("hosts") as batch:
        batch.drop_column("silent")
