"""Domain records to wire schemas."""

from __future__ import annotations

from tashi.api.schemas import (
    DiskOut,
    EventOut,
    HostOut,
    ImageOut,
    InstanceOut,
    NetworkOut,
    NicOut,
    UserOut,
)
from tashi.domain.models import Event, Image, Instance, Network, User
from tashi.manager.hosts import HostView


def instance_out(i: Instance) -> InstanceOut:
    return InstanceOut(
        id=i.id, name=i.name, owner=i.owner, state=i.state, host=i.spec.host,
        cores=i.spec.cores, memory_mib=i.spec.memory_mib,
        disks=[DiskOut(image=d.image, persistent=d.persistent) for d in i.spec.disks],
        nics=[NicOut(network=n.network, mac=n.mac, model=n.model) for n in i.spec.nics],
        shutdown_timeout_s=i.spec.shutdown_timeout_s, generation=i.generation,
        message=i.status.message, observed=i.status.observed,
        observed_at=i.status.observed_at, created_at=i.created_at, updated_at=i.updated_at,
    )


def host_out(v: HostView) -> HostOut:
    h = v.host
    return HostOut(
        name=h.name, state=h.state, up=v.up, cores=h.cores, memory_mib=h.memory_mib,
        used_cores=v.used.cores, used_memory_mib=v.used.memory_mib, instances=v.instances,
        agent_version=h.agent_version, last_heartbeat=h.last_heartbeat,
    )


def image_out(i: Image) -> ImageOut:
    return ImageOut(name=i.name, owner=i.owner, format=i.format, size_bytes=i.size_bytes,
                    virtual_size_bytes=i.virtual_size_bytes, created_at=i.created_at)


def network_out(n: Network) -> NetworkOut:
    return NetworkOut(name=n.name, kind=n.kind, created_at=n.created_at)


def user_out(u: User) -> UserOut:
    return UserOut(name=u.name, role=u.role, created_at=u.created_at)


def event_out(e: Event) -> EventOut:
    return EventOut(at=e.at, message=e.message, instance_id=e.instance_id, host=e.host)
