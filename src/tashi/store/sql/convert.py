"""Rows to frozen domain records. Rows stop here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from tashi.domain.events import Event, EventFacts, EventKind
from tashi.domain.models import (
    Host,
    Image,
    ImageFormat,
    Instance,
    Network,
    NetworkKind,
    User,
    Visibility,
)
from tashi.domain.resources import CLASSES, Resources
from tashi.domain.states import HostState, InstanceState, Role
from tashi.store.base import TokenRecord
from tashi.store.capabilities import capabilities_from_doc
from tashi.store.documents import maybe_utc, member, spec_from_doc, status_from_doc, utc
from tashi.store.sql.tables import (
    EventRow,
    HostRow,
    ImageRow,
    InstanceRow,
    NetworkRow,
    TokenRow,
    UserRow,
)


def user(row: UserRow | Row[Any]) -> User:
    return User(id=row.id, name=row.name, role=Role(row.role), created_at=utc(row.created_at),
                source=row.source)


def token(row: TokenRow) -> TokenRecord:
    return TokenRecord(
        id=row.id, token_hash=row.token_hash, name=row.name, user=row.user_name,
        host=row.host_name, created_at=utc(row.created_at), expires_at=maybe_utc(row.expires_at),
    )


def host(row: HostRow | Row[Any]) -> Host:
    return Host(
        id=row.id, name=row.name, state=HostState(row.state), cores=row.cores,
        memory_mib=row.memory_mib, disk_gib=row.disk_gib,
        last_heartbeat=maybe_utc(row.last_heartbeat),
        agent_version=row.agent_version, registered_at=utc(row.registered_at),
        hypervisor=row.hypervisor, reserved_for=tuple(str(u) for u in row.reserved_for or ()),
        silent=bool(row.silent), capabilities=capabilities_from_doc(row.capabilities),
    )


def image(row: ImageRow) -> Image:
    return Image(
        id=row.id, name=row.name, owner=row.owner, format=ImageFormat(row.format),
        size_bytes=row.size_bytes, virtual_size_bytes=row.virtual_size_bytes,
        created_at=utc(row.created_at), visibility=Visibility(row.visibility),
        min_memory_mib=row.min_memory_mib,
    )


def network(row: NetworkRow) -> Network:
    return Network(
        id=row.id, name=row.name, kind=NetworkKind(row.kind), created_at=utc(row.created_at)
    )


def event(row: EventRow) -> Event:
    return Event(
        id=row.id, instance_id=row.instance_id, host=row.host, message=row.message,
        at=utc(row.at), kind=EventKind(row.kind), actor=row.actor, user=row.user_name,
        old_state=None if row.old_state is None else InstanceState(row.old_state),
        new_state=None if row.new_state is None else InstanceState(row.new_state),
        resources=None if row.resources is None else Resources(**row.resources),
    )


def event_row(e: Event | EventFacts, **where: Any) -> dict[str, Any]:
    """The columns of an event's facts (``where``: its id, instance, host, message, at)."""
    res = e.resources
    return {**where, "kind": e.kind.value, "actor": e.actor, "user_name": e.user,
            "old_state": None if e.old_state is None else e.old_state.value,
            "new_state": None if e.new_state is None else e.new_state.value,
            "resources": None if res is None else {c: res.amount(c) for c in CLASSES}}


def instance(row: InstanceRow | Row[Any]) -> Instance:
    return Instance(
        id=row.id, name=row.name, owner=row.owner, state=member(InstanceState, row.state),
        spec=spec_from_doc(row.spec, row.host), status=status_from_doc(row.status),
        generation=row.generation, created_at=utc(row.created_at),
        updated_at=utc(row.updated_at),
    )
