"""A migration's start, checked against its target's room and both hosts' migrations
under way in the writing transaction.

The rows of both hosts are locked (PostgreSQL ``FOR UPDATE``, as a binding locks a
host; in name order, so two starts never wait on each other) before the target's
usage is summed and the migrations under way counted, so two migrations (or a
migration and a binding) on one host take turns, and the instance's ``incoming``
claim is written by the same transaction (:func:`tashi.domain.claims.wanted_claims`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tashi.domain.errors import Conflict, InvalidInput, NotFound
from tashi.domain.models import Instance, InstanceSpec, InstanceStatus
from tashi.domain.states import MIGRATING
from tashi.store.binding import IDLE, host_refusal
from tashi.store.sql import claims, convert, derived
from tashi.store.sql.tables import HostRow, InstanceRow, NetworkRow, plain


def start_migration(s: Session, instance_id: int, *, generation: int, spec: InstanceSpec,
                    status: InstanceStatus, now: datetime, per_host: int) -> Instance:
    if spec.migration is None:
        raise InvalidInput(f"instance {instance_id}: no migration to start")
    source, target = spec.migration.source, spec.migration.target
    rows = {r.name: r for r in s.scalars(derived.locking(s, select(HostRow).where(
        HostRow.name.in_((source, target))).order_by(HostRow.name)))}
    row = rows.get(target)
    if row is None:
        raise NotFound(f"host {target} not found")
    _check_under_way(s, instance_id, source, target, per_host)
    current = s.execute(plain(InstanceRow).where(InstanceRow.id == instance_id)).first()
    if current is None:
        raise NotFound(f"instance {instance_id} not found")
    instance = convert.instance(current)
    usage = claims.usage_by_host(s, [target], groups_too=instance.spec.anti_affinity)
    kinds = {name: kind for name, kind in s.execute(select(NetworkRow.name, NetworkRow.kind))}
    error = host_refusal(instance, convert.host(row), usage.get(target, IDLE), kinds)
    if error is not None:
        raise error
    return derived.write_instance(s, instance_id, generation=generation, spec=spec,
                                  status=status, now=now)


def _check_under_way(s: Session, instance_id: int, source: str, target: str,
                     per_host: int) -> None:
    """Conflict when ``source`` or ``target`` has ``per_host`` migrations under way (in or
    out) already."""
    counts = {source: 0, target: 0}
    for spec_doc, in s.execute(select(InstanceRow.spec).where(
            InstanceRow.state.in_([str(m) for m in MIGRATING]),
            InstanceRow.id != instance_id)):
        m = spec_doc.get("migration") or {}
        for host in counts:
            if host in (m.get("source"), m.get("target")):
                counts[host] += 1
    for host in (source, target):
        if counts[host] >= per_host:
            raise Conflict(f"host {host} has {counts[host]} migration(s) under way, its "
                           f"limit ({per_host} in or out at once); try again when one ends")
