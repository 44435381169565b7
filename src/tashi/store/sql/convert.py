"""Rows to frozen domain records and back. Rows and JSON dicts stop here."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tashi.domain.models import (
    DiskSpec,
    Event,
    Host,
    Image,
    ImageFormat,
    Instance,
    InstanceSpec,
    InstanceStatus,
    Network,
    NetworkKind,
    NicSpec,
    User,
)
from tashi.domain.states import HostState, InstanceState, Role
from tashi.store.base import TokenRecord
from tashi.store.sql.tables import (
    EventRow,
    HostRow,
    ImageRow,
    InstanceRow,
    NetworkRow,
    TokenRow,
    UserRow,
)


def user(row: UserRow) -> User:
    return User(id=row.id, name=row.name, role=Role(row.role), created_at=_utc(row.created_at))


def token(row: TokenRow) -> TokenRecord:
    return TokenRecord(
        id=row.id, name=row.name, user=row.user_name, host=row.host_name,
        created_at=_utc(row.created_at), expires_at=_maybe_utc(row.expires_at),
    )


def host(row: HostRow) -> Host:
    return Host(
        id=row.id, name=row.name, state=HostState(row.state), cores=row.cores,
        memory_mib=row.memory_mib, last_heartbeat=_maybe_utc(row.last_heartbeat),
        agent_version=row.agent_version, registered_at=_utc(row.registered_at),
    )


def image(row: ImageRow) -> Image:
    return Image(
        id=row.id, name=row.name, owner=row.owner, format=ImageFormat(row.format),
        size_bytes=row.size_bytes, virtual_size_bytes=row.virtual_size_bytes,
        created_at=_utc(row.created_at),
    )


def network(row: NetworkRow) -> Network:
    return Network(
        id=row.id, name=row.name, kind=NetworkKind(row.kind), created_at=_utc(row.created_at)
    )


def event(row: EventRow) -> Event:
    return Event(
        id=row.id, instance_id=row.instance_id, host=row.host, message=row.message, at=_utc(row.at)
    )


def instance(row: InstanceRow) -> Instance:
    return Instance(
        id=row.id, name=row.name, owner=row.owner, state=InstanceState(row.state),
        spec=spec_from_doc(row.spec, row.host), status=status_from_doc(row.status),
        generation=row.generation, created_at=_utc(row.created_at),
        updated_at=_utc(row.updated_at),
    )


def spec_doc(spec: InstanceSpec) -> dict[str, Any]:
    """The spec as stored, without its host (which has a column of its own)."""
    return {
        "cores": spec.cores,
        "memory_mib": spec.memory_mib,
        "disks": [{"image": d.image, "persistent": d.persistent} for d in spec.disks],
        "nics": [{"network": n.network, "mac": n.mac, "model": n.model} for n in spec.nics],
        "shutdown_timeout_s": spec.shutdown_timeout_s,
    }


def spec_from_doc(doc: dict[str, Any], host: str | None) -> InstanceSpec:
    return InstanceSpec(
        cores=int(doc["cores"]),
        memory_mib=int(doc["memory_mib"]),
        disks=tuple(
            DiskSpec(image=str(d["image"]), persistent=bool(d["persistent"]))
            for d in doc["disks"]
        ),
        nics=tuple(
            NicSpec(network=str(n["network"]), mac=str(n["mac"]), model=str(n["model"]))
            for n in doc["nics"]
        ),
        host=host,
        shutdown_timeout_s=int(doc["shutdown_timeout_s"]),
    )


def status_doc(status: InstanceStatus) -> dict[str, Any]:
    observed_at = status.observed_at
    return {
        "observed": status.observed,
        "message": status.message,
        "observed_at": None if observed_at is None else _utc(observed_at).isoformat(),
        "observed_generation": status.observed_generation,
    }


def status_from_doc(doc: dict[str, Any]) -> InstanceStatus:
    observed_at = doc.get("observed_at")
    return InstanceStatus(
        observed=str(doc.get("observed", "")),
        message=str(doc.get("message", "")),
        observed_at=None if observed_at is None else datetime.fromisoformat(observed_at),
        observed_generation=int(doc.get("observed_generation", 0)),
    )


def _maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _utc(value: datetime) -> datetime:
    """``value`` in UTC. A row just written holds what the caller gave, in any zone."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Tashi stores timezone-aware UTC")
    return value.astimezone(UTC)
