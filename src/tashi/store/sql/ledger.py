"""The SQL store's ledger of allocations (:mod:`tashi.domain.accounting`): what each
instance held, where, from when to when, kept in step with its claims.

Every write that changes an instance's claims (or whether its saved state is in the
suspend directory) calls :func:`sync` in its own transaction, as it does
:func:`tashi.store.sql.claims.sync`: an allocation that changed is closed (``until`` set)
and its successor opened, at the write's time. So the ledger holds exactly what the
claims were, to the second, across restarts and replicas, with nothing to replay.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from tashi.domain.claims import wanted_claims
from tashi.domain.models import Instance
from tashi.domain.resources import Resources
from tashi.store.sql.tables import AllocationRow

SAVED = "saved"  # the role of a saved state's allocation (host "": the suspend directory)
SUSPEND_DIR = ""  # the host of the allocations of saved states

#: What an instance holds: for each role, where and how much.
Holding = dict[str, tuple[str, Resources]]


def holding(instance: Instance) -> Holding:
    """What ``instance`` holds now: its claims, and its saved state while there is one.

    A saved state is counted as the disk it may take: the instance's disks and its
    memory image (rounded up to whole GiB), an upper bound (QEMU writes no zero pages).
    """
    held: Holding = {role.value: claim for role, claim in wanted_claims(instance).items()}
    if instance.status.saved:
        res = instance.spec.resources
        memory_gib = -(-res.memory_mib // 1024)
        held[SAVED] = (SUSPEND_DIR, Resources(0, 0, res.disk_gib + memory_gib))
    return held


def sync(s: Session, before: Instance | None, after: Instance, now: datetime) -> None:
    """Close the allocations of ``after`` that differ from ``before``'s, open the new ones."""
    old = {} if before is None else holding(before)
    new = holding(after)
    changed = [role for role in old.keys() | new.keys() if old.get(role) != new.get(role)]
    if not changed:
        return
    t = now.timestamp()
    close(s, after.id, t, [role for role in changed if role in old])
    rows = [_row(after, role, *new[role], t) for role in changed if role in new]
    if rows:
        s.execute(insert(AllocationRow), rows)


def open_claims(s: Session, instances: Iterable[Instance], now: datetime) -> None:
    """Open the allocations of the claims of ``instances``, which held none (newly bound)."""
    t = now.timestamp()
    rows = [_row(i, role.value, host, res, t)
            for i in instances for role, (host, res) in wanted_claims(i).items()]
    if rows:
        s.execute(insert(AllocationRow), rows)


def open_all(s: Session, instances: Iterable[Instance], now: datetime) -> None:
    """Open every allocation of ``instances`` (restored from a snapshot: the ledger of
    the store they came from stays there, and this one counts from ``now``)."""
    t = now.timestamp()
    rows = [_row(i, role, host, res, t)
            for i in instances for role, (host, res) in holding(i).items()]
    if rows:
        s.execute(insert(AllocationRow), rows)


def close(s: Session, instance_id: int, t: float, roles: list[str] | None = None) -> None:
    """End the open allocations of the instance at ``t`` (``roles``: only those)."""
    where = [AllocationRow.instance_id == instance_id, AllocationRow.until.is_(None)]
    if roles is not None:
        if not roles:
            return
        where.append(AllocationRow.role.in_(roles))
    s.execute(update(AllocationRow).where(*where).values(until=t))


def _row(instance: Instance, role: str, host: str, res: Resources,
         since: float) -> dict[str, Any]:
    return {"instance_id": instance.id, "instance": instance.name,
            "user_name": instance.owner, "host": host, "role": role, "cores": res.cores,
            "memory_mib": res.memory_mib, "disk_gib": res.disk_gib, "since": since,
            "until": None}
