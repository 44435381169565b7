"""Domain records to wire schemas."""

from __future__ import annotations

from typing import Literal

from tashi.api.schemas import (
    AvoidedHostOut,
    BindingOut,
    DiskOut,
    EventOut,
    HostOut,
    ImageOut,
    InstanceOut,
    NetworkOut,
    NicOut,
    StartFailureOut,
    UserOut,
)
from tashi.domain.errors import NotFound
from tashi.domain.models import Event, Image, Instance, Network, User
from tashi.manager.hosts import HostView
from tashi.store.binding import BindResult


def instance_out(i: Instance) -> InstanceOut:
    spec, status = i.spec, i.status
    return InstanceOut(
        id=i.id, name=i.name, owner=i.owner, state=i.state, host=spec.host,
        cores=spec.cores, memory_mib=spec.memory_mib,
        disks=[DiskOut(image=d.image, persistent=d.persistent) for d in spec.disks],
        nics=[NicOut(network=n.network, mac=n.mac, model=n.model) for n in spec.nics],
        shutdown_timeout_s=spec.shutdown_timeout_s, disk_gib=spec.disk_gib,
        target_host=spec.target_host, allow_elsewhere=spec.allow_elsewhere, group=spec.group,
        anti_affinity=spec.anti_affinity, power=spec.power, generation=i.generation,
        message=status.message, observed=status.observed, observed_at=status.observed_at,
        attempts=status.attempts,
        failures=[StartFailureOut(host=f.host, reason=f.reason, at=f.at)
                  for f in status.failures],
        avoid=[AvoidedHostOut(host=a.host, until=a.until) for a in status.avoid],
        retry_at=status.retry_at, created_at=i.created_at, updated_at=i.updated_at,
    )


def host_out(v: HostView) -> HostOut:
    h = v.host
    return HostOut(
        name=h.name, state=h.state, up=v.up, cores=h.cores, memory_mib=h.memory_mib,
        used_cores=v.used.cores, used_memory_mib=v.used.memory_mib, disk_gib=h.disk_gib,
        used_disk_gib=v.used.disk_gib, instances=v.instances,
        agent_version=h.agent_version, last_heartbeat=h.last_heartbeat,
        hypervisor=h.hypervisor, reserved_for=list(h.reserved_for), groups=sorted(v.groups),
    )


def binding_out(r: BindResult, host: str) -> BindingOut:
    if r.instance is not None:
        return BindingOut(id=r.instance_id, host=host, result="bound")
    message = r.error.message if r.error is not None else "not bound"
    result: Literal["conflict", "not_found"] = (
        "not_found" if isinstance(r.error, NotFound) else "conflict")
    return BindingOut(id=r.instance_id, host=host, result=result, message=message)


def image_out(i: Image) -> ImageOut:
    return ImageOut(name=i.name, owner=i.owner, format=i.format, size_bytes=i.size_bytes,
                    virtual_size_bytes=i.virtual_size_bytes, created_at=i.created_at)


def network_out(n: Network) -> NetworkOut:
    return NetworkOut(name=n.name, kind=n.kind, created_at=n.created_at)


def user_out(u: User) -> UserOut:
    return UserOut(name=u.name, role=u.role, created_at=u.created_at, source=u.source)


def event_out(e: Event) -> EventOut:
    return EventOut(at=e.at, message=e.message, instance_id=e.instance_id, host=e.host)
