"""The store's epoch (migration 0017): read it, and set it when a snapshot is restored
(the inserts of the restore moved it on; the snapshot's own value is the right one)."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session


def read(s: Session) -> int:
    """The epoch now: past every committed write of an instance row."""
    if s.get_bind().dialect.name == "postgresql":
        last = s.scalar(text("SELECT pg_sequence_last_value('store_epoch_seq'::regclass)"))
    else:
        last = s.scalar(text("SELECT value FROM store_epoch WHERE id = 1"))
    return int(last or 0)


def restore(s: Session, value: int) -> None:
    """Make ``value`` the epoch (after a restore into an empty store)."""
    if s.get_bind().dialect.name == "postgresql":
        if value > 0:
            s.execute(text("SELECT setval('store_epoch_seq', :v, true)"), {"v": value})
        else:
            s.execute(text("SELECT setval('store_epoch_seq', 1, false)"))
    else:
        s.execute(text("UPDATE store_epoch SET value = :v WHERE id = 1"), {"v": value})
