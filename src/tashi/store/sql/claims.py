"""The SQL store's claims (:mod:`tashi.domain.claims`): kept in step with the
instances inside each writing transaction, summed per host for usage.

Every write that may change what an instance claims (its binding, its derived state,
its size) calls :func:`sync` with the instance before and after; nothing is written
when the claims stay as they were (a report moving Activating to Running, say).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from tashi.domain.claims import Claim, ClaimRole, wanted_claims
from tashi.domain.models import Instance
from tashi.domain.resources import Resources
from tashi.store.binding import HostUsage
from tashi.store.sql import ledger
from tashi.store.sql.tables import ClaimRow, InstanceRow


def sync(s: Session, before: Instance | None, after: Instance, now: datetime) -> None:
    """Rewrite the claims of ``after`` if they differ from those of ``before`` (and the
    ledger's allocations, :mod:`tashi.store.sql.ledger`, with them)."""
    ledger.sync(s, before, after, now)
    old = {} if before is None else wanted_claims(before)
    new = wanted_claims(after)
    if old == new:
        return
    changed = [role for role in old.keys() | new.keys() if old.get(role) != new.get(role)]
    s.execute(delete(ClaimRow).where(ClaimRow.instance_id == after.id,
                                     ClaimRow.role.in_([r.value for r in changed])))
    rows = [_row(after.id, role, *new[role], now) for role in changed if role in new]
    if rows:
        s.execute(insert(ClaimRow), rows)


def add_for(s: Session, instances: Iterable[Instance], now: datetime) -> None:
    """Insert the claims of ``instances``, which hold none yet (newly bound)."""
    instances = list(instances)
    rows = rows_for(instances, now)
    if rows:  # executemany: one statement, however many
        s.execute(insert(ClaimRow), rows)
        ledger.open_claims(s, instances, now)


def rows_for(instances: Iterable[Instance], since: datetime | None) -> list[dict[str, Any]]:
    """The rows of the claims of ``instances``, held since ``since`` (None: since each
    one's last change, as when a snapshot is restored)."""
    return [_row(i.id, role, host, res, since or i.updated_at)
            for i in instances for role, (host, res) in wanted_claims(i).items()]


def _row(instance_id: int, role: ClaimRole, host: str, res: Resources,
         since: datetime) -> dict[str, Any]:
    return {"instance_id": instance_id, "role": role.value, "host": host,
            "cores": res.cores, "memory_mib": res.memory_mib, "disk_gib": res.disk_gib,
            "since": since}


def usage_by_host(s: Session, hosts: Sequence[str] | None = None, *,
                  groups_too: bool = True) -> dict[str, HostUsage]:
    """The claims summed per host in the database (only a row per host, and per group,
    comes out). ``hosts``: only these (default: all). ``groups_too=False`` leaves out
    the groups held (an extra join, needed only to judge anti-affinity)."""
    where = () if hosts is None else (ClaimRow.host.in_(hosts),)
    totals = s.execute(select(
        ClaimRow.host, func.sum(ClaimRow.cores), func.sum(ClaimRow.memory_mib),
        func.sum(ClaimRow.disk_gib), func.count(ClaimRow.instance_id.distinct()),
    ).where(*where).group_by(ClaimRow.host))
    group = InstanceRow.spec["group"].as_string()
    groups: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
    for host, owner, name in () if not groups_too else s.execute(
            select(ClaimRow.host, InstanceRow.owner, group)
            .join(InstanceRow, InstanceRow.id == ClaimRow.instance_id)
            .where(*where, group.is_not(None)).distinct()):
        groups[host].add((owner, name))
    return {host: HostUsage(Resources(int(cores), int(memory), int(disk)), int(n),
                            frozenset(groups.get(host, ())))
            for host, cores, memory, disk, n in totals}


def list_claims(s: Session, *, host: str | None = None,
                instance_id: int | None = None) -> list[Claim]:
    stmt = (select(ClaimRow.instance_id, InstanceRow.name, InstanceRow.owner, ClaimRow.host,
                   ClaimRow.role, ClaimRow.cores, ClaimRow.memory_mib, ClaimRow.disk_gib,
                   ClaimRow.since)
            .join(InstanceRow, InstanceRow.id == ClaimRow.instance_id)
            .order_by(ClaimRow.host, ClaimRow.instance_id, ClaimRow.role))
    if host is not None:
        stmt = stmt.where(ClaimRow.host == host)
    if instance_id is not None:
        stmt = stmt.where(ClaimRow.instance_id == instance_id)
    return [Claim(iid, name, owner, on, ClaimRole(role), Resources(cores, memory, disk), since)
            for iid, name, owner, on, role, cores, memory, disk, since in s.execute(stmt)]
