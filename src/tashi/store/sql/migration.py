"""A migration's start, checked against its target's room in the writing transaction.

The target host's row is locked (PostgreSQL ``FOR UPDATE``, as a binding locks it)
before its usage is summed, so two migrations (or a migration and a binding) to one
host take turns, and the instance's ``incoming`` claim is written by the same
transaction (:func:`tashi.domain.claims.wanted_claims`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tashi.domain.errors import InvalidInput, NotFound
from tashi.domain.models import Instance, InstanceSpec, InstanceStatus
from tashi.store.binding import IDLE, host_refusal
from tashi.store.sql import claims, convert, derived
from tashi.store.sql.tables import HostRow, InstanceRow, NetworkRow, plain


def start_migration(s: Session, instance_id: int, *, generation: int, spec: InstanceSpec,
                    status: InstanceStatus, now: datetime) -> Instance:
    if spec.migration is None:
        raise InvalidInput(f"instance {instance_id}: no migration to start")
    target = spec.migration.target
    row = s.scalar(derived.locking(s, select(HostRow).where(HostRow.name == target)))
    if row is None:
        raise NotFound(f"host {target} not found")
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
