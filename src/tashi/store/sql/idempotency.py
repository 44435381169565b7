"""Creates made once per ``Idempotency-Key`` (migration 0018): the key is looked up in
the creating transaction and written in it, so a retried create (its answer lost)
returns what the first one made, and two racing with one key make it once."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from tashi.domain.errors import Conflict
from tashi.store.base import Idempotency
from tashi.store.sql.tables import IdempotencyRow

#: How long a key is kept (a client retries within minutes; a day is generous).
KEPT = timedelta(days=1)


def made_before(s: Session, asked: Idempotency, now: datetime) -> list[int] | None:
    """The ids a create of ``asked`` made already (None: none did); Conflict if the key
    was used for another request. Keys older than :data:`KEPT` are dropped first."""
    s.execute(delete(IdempotencyRow).where(IdempotencyRow.created_at < now - KEPT))
    row = s.scalar(select(IdempotencyRow).where(IdempotencyRow.owner == asked.owner,
                                                IdempotencyRow.key == asked.key))
    if row is None:
        return None
    if row.fingerprint != asked.fingerprint:
        raise Conflict(f"Idempotency-Key {asked.key!r} of user {asked.owner} was used for "
                       "another request: use a new key for a new request")
    return [int(i) for i in row.instance_ids]


def remember(s: Session, asked: Idempotency, ids: list[int], now: datetime) -> None:
    s.add(IdempotencyRow(owner=asked.owner, key=asked.key, fingerprint=asked.fingerprint,
                         instance_ids=ids, created_at=now))
    s.flush()  # a racing create with the key fails here, in its transaction
