"""Instance writes that keep the derived state cache right, inside the writing
transaction.

An instance's ``state`` column is :func:`tashi.domain.derive.shown_state` of its spec,
its status and its bound host's ``silent`` flag. Every write of one of those inputs goes
through here and recomputes it (and the instance's claims, :mod:`.claims`) from the
rows as they are in the same transaction, so a
report racing a user's action can never leave a state derived from a spec that is no
longer there. Rows are locked (PostgreSQL ``FOR UPDATE``; sqlite's write transaction
already excludes) before they are read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from tashi.domain.derive import shown_state
from tashi.domain.errors import NotFound, StaleGeneration
from tashi.domain.models import Instance, InstanceSpec, InstanceStatus
from tashi.store.documents import spec_doc, status_doc
from tashi.store.sql import claims, convert, quotas
from tashi.store.sql.tables import HostRow, InstanceRow


def locking(s: Session, stmt: Select[Any]) -> Select[Any]:
    """``stmt … FOR UPDATE`` on PostgreSQL; sqlite's write transaction already excludes."""
    return stmt.with_for_update() if s.get_bind().dialect.name == "postgresql" else stmt


def host_silent(s: Session, host: str | None) -> bool:
    if host is None:
        return False
    return bool(s.scalar(select(HostRow.silent).where(HostRow.name == host)))


def write_instance(s: Session, instance_id: int, *, generation: int | None,
                   spec: InstanceSpec | None, status: InstanceStatus | None,
                   now: datetime, silent: Mapping[str, bool] | None = None,
                   made_at: int | None = None) -> Instance:
    """Write ``spec`` (bumping the generation, which must be ``generation``) and/or
    ``status`` (never bumping it) of an instance, and its derived state. ``silent``:
    the hosts' silent flags, read in this transaction (else read here); ``made_at``: the
    generation ``status`` was made from (StaleGeneration, nothing written, if the
    instance is at another now)."""
    row = s.scalar(locking(s, select(InstanceRow).where(InstanceRow.id == instance_id)))
    if row is None:
        raise NotFound(f"instance {instance_id} not found")
    if made_at is not None and row.generation != made_at:
        raise StaleGeneration(f"instance {instance_id} ({row.name!r}): changed since its "
                              f"status was read (generation {made_at}, now {row.generation})")
    if generation is not None and row.generation != generation:
        raise StaleGeneration(f"instance {instance_id} ({row.name!r}): generation "
                              f"{generation} is stale, it is now at {row.generation}; "
                              "re-read it and retry")
    current = convert.instance(row)
    new_spec, new_status = spec or current.spec, status or current.status
    quiet = host_silent(s, new_spec.host) if silent is None else bool(
        silent.get(new_spec.host or "", False))
    state = shown_state(new_spec, new_status, host_silent=quiet)
    if spec is not None:  # a resume counts against the quota: checked before the write
        quotas.check_growth(s, current, state, new_spec)
        row.spec, row.host = spec_doc(spec), spec.host
        row.generation += 1
    if status is not None:
        row.status = status_doc(status)
    row.state = state.value
    row.updated_at = now
    s.flush()
    after = convert.instance(row)
    claims.sync(s, current, after, now)
    return after


def set_host_silent(s: Session, name: str, silent: bool, why: str,
                    now: datetime) -> list[tuple[Instance, Instance]]:
    """Mark host ``name`` silent (or not) and re-derive its instances' states; return
    each instance whose shown state changed, before and after (its status message
    now ``why``)."""
    host = s.scalar(locking(s, select(HostRow).where(HostRow.name == name)))
    if host is None:
        raise NotFound(f"host {name!r} not found")
    host.silent = silent
    changed = []
    rows = s.scalars(locking(s, select(InstanceRow).where(InstanceRow.host == name)
                             .order_by(InstanceRow.id)))
    for row in rows:
        before = convert.instance(row)
        state = shown_state(before.spec, before.status, host_silent=silent)
        if state is not before.state:
            row.state, row.updated_at = state.value, now
            row.status = status_doc(replace(before.status, message=why))
            s.flush()
            after = convert.instance(row)
            claims.sync(s, before, after, now)
            changed.append((before, after))
    return changed
