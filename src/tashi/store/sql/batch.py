"""The SQL store's batches: many instances created at once, many bindings at once.

Each runs inside the caller's write transaction (``BEGIN IMMEDIATE`` on sqlite,
which serializes writers). On PostgreSQL, :func:`bind_instances` locks the rows of
the hosts it binds to (``SELECT … FOR UPDATE``, in name order, then the instances in
id order, so two batches never deadlock) before it reads their usage: a concurrent
batch binding to one of those hosts waits, then sees this one's instances.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tashi.domain.errors import Conflict
from tashi.domain.models import Host, Instance, InstanceStatus, NewInstance
from tashi.domain.resources import Resources
from tashi.domain.states import HOLDS_RESOURCES, InstanceState
from tashi.store.binding import (
    IDLE,
    Binding,
    BindResult,
    HostUsage,
    bound,
    event_message,
    refusal,
)
from tashi.store.documents import spec_doc, status_doc
from tashi.store.sql import convert
from tashi.store.sql.tables import EventRow, HostRow, InstanceRow


def create_instances(s: Session, news: Sequence[NewInstance], event: str | None,
                     now: datetime) -> list[Instance]:
    """Insert ``news`` (and their events); Conflict naming the first duplicate name."""
    _check_names(s, news)
    rows = [InstanceRow(name=n.name, owner=n.owner, state=InstanceState.PENDING.value,
                        host=n.spec.host, spec=spec_doc(n.spec),
                        status=status_doc(InstanceStatus()), generation=1,
                        created_at=now, updated_at=now) for n in news]
    try:
        s.add_all(rows)
        s.flush()
    except IntegrityError as exc:  # a concurrent creation took a name meanwhile
        raise Conflict(f"an instance named like one of {news[0].name!r}... of "
                       f"{news[0].owner!r} already exists") from exc
    if event is not None:
        s.add_all([EventRow(instance_id=r.id, host=r.host, message=event, at=now)
                   for r in rows])
    return [convert.instance(r) for r in rows]


def _check_names(s: Session, news: Sequence[NewInstance]) -> None:
    seen: set[tuple[str, str]] = set()
    by_owner: defaultdict[str, list[str]] = defaultdict(list)
    for n in news:
        if (n.owner, n.name) in seen:
            raise Conflict(f"instance {n.name!r} of {n.owner!r} is asked twice")
        seen.add((n.owner, n.name))
        by_owner[n.owner].append(n.name)
    for owner, names in by_owner.items():
        taken = s.scalars(select(InstanceRow.name).where(
            InstanceRow.owner == owner, InstanceRow.name.in_(names))).first()
        if taken is not None:
            raise Conflict(f"instance {taken!r} of {owner!r} already exists")


def bind_instances(s: Session, bindings: Sequence[Binding], now: datetime) -> list[BindResult]:
    names = sorted({b.host for b in bindings})
    hosts = {r.name: convert.host(r) for r in s.scalars(
        _locking(s, select(HostRow).where(HostRow.name.in_(names)).order_by(HostRow.name)))}
    ids = sorted({b.instance_id for b in bindings})
    rows = {r.id: r for r in s.scalars(_locking(
        s, select(InstanceRow).where(InstanceRow.id.in_(ids)).order_by(InstanceRow.id)))}
    usage = usage_by_host(s, list(hosts))
    return [_bind_one(s, b, rows.get(b.instance_id), hosts.get(b.host), usage, now)
            for b in bindings]


def _bind_one(s: Session, b: Binding, row: InstanceRow | None, host: Host | None,
              usage: dict[str, HostUsage], now: datetime) -> BindResult:
    instance = None if row is None else convert.instance(row)
    error = refusal(b, instance, host, usage.get(b.host, IDLE))
    if error is not None or instance is None or row is None:
        return BindResult(b.instance_id, error=error)
    new = bound(instance, b, now)
    row.state, row.host, row.generation = new.state.value, b.host, new.generation
    row.spec, row.status, row.updated_at = spec_doc(new.spec), status_doc(new.status), now
    usage[b.host] = usage.get(b.host, IDLE).plus(new)
    s.add(EventRow(instance_id=b.instance_id, host=b.host, message=event_message(b), at=now))
    return BindResult(b.instance_id, instance=new)


def usage_by_host(s: Session, hosts: Sequence[str] | None = None) -> dict[str, HostUsage]:
    """Summed in the database: only a row per host (and per group) comes out.
    ``hosts``: only these (default: all)."""
    holds = (InstanceRow.state.in_([x.value for x in HOLDS_RESOURCES]),
             InstanceRow.host.is_not(None) if hosts is None else InstanceRow.host.in_(hosts))
    group = InstanceRow.spec["group"].as_string()
    totals = s.execute(select(
        InstanceRow.host, func.sum(InstanceRow.spec["cores"].as_integer()),
        func.sum(InstanceRow.spec["memory_mib"].as_integer()), func.count(),
    ).where(*holds).group_by(InstanceRow.host))
    groups: defaultdict[str, set[tuple[str, str]]] = defaultdict(set)
    for host, owner, name in s.execute(select(InstanceRow.host, InstanceRow.owner, group)
                                       .where(*holds, group.is_not(None)).distinct()):
        groups[host].add((owner, name))
    return {host: HostUsage(Resources(int(cores), int(memory)), int(n),
                            frozenset(groups.get(host, ())))
            for host, cores, memory, n in totals}


def _locking(s: Session, stmt: Select[Any]) -> Select[Any]:
    """``stmt … FOR UPDATE`` on PostgreSQL; sqlite's write transaction already excludes."""
    return stmt.with_for_update() if s.get_bind().dialect.name == "postgresql" else stmt
