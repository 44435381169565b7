"""Domain records to wire schemas, and the few wire bodies the core takes back."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import TypeAdapter

from tashi.api.schemas import (
    BindingOut,
    CapabilitiesWire,
    DesiredDiskOut,
    DesiredDisplayOut,
    DesiredInstanceOut,
    DesiredNicOut,
    DesiredSeedOut,
    EventOut,
    HostOut,
    ImageOut,
    InstanceOut,
    NetworkOut,
    ObservationIn,
    SeedOut,
    UserOut,
)
from tashi.api.schemas.migration import (
    desired_migration_out,
    migration_out,
    report_of,
    result_out,
)
from tashi.domain.desired import DesiredInstance, Observation
from tashi.domain.errors import NotFound
from tashi.domain.events import Event
from tashi.domain.models import Image, Instance, Network, Seed, User
from tashi.manager.hosts import HostView
from tashi.store.binding import BindResult

FIELDS_JSON = TypeAdapter(list[dict[str, Any]])  # dumps records' fields, checks nothing

def instance_out(i: Instance) -> InstanceOut:
    return InstanceOut.model_validate(instance_fields(i))


def instances_json(instances: Sequence[Instance]) -> bytes:
    """The JSON list of the :func:`instance_out` of each, the same bytes as the models
    dumped, but dumped from their fields at once: making (validating) the models took
    four fifths of a list's time, for records the domain made and checked already
    (``tests/unit/test_instances_json.py`` holds the two the same)."""
    return FIELDS_JSON.dump_json([instance_fields(i) for i in instances])


def instance_fields(i: Instance) -> dict[str, Any]:
    """The fields of the instance's :class:`InstanceOut`, in its order, nested records
    as dicts."""
    spec, status = i.spec, i.status
    restarted = spec.restarted
    return dict(
        id=i.id, name=i.name, owner=i.owner, state=i.state, host=spec.host,
        cores=spec.cores, memory_mib=spec.memory_mib,
        disks=[{"image": d.image, "persistent": d.persistent, "size_gib": d.size_gib,
                "scratch": d.scratch, "bus": d.bus, "cache": d.cache} for d in spec.disks],
        nics=[{"network": n.network, "mac": n.mac, "model": n.model} for n in spec.nics],
        shutdown_timeout_s=spec.shutdown_timeout_s, disk_gib=spec.disk_gib,
        seed=None if spec.seed is None else seed_out(spec.seed),
        reboots=spec.reboots, reboots_done=status.reboots_done, saved=status.saved,
        progress=status.progress, last_failure=status.last_failure,
        target_host=spec.target_host,
        allow_elsewhere=spec.allow_elsewhere, group=spec.group,
        anti_affinity=spec.anti_affinity, power=spec.power, generation=i.generation,
        message=status.message, observed=status.observed, observed_at=status.observed_at,
        attempts=status.attempts,
        failures=[{"host": f.host, "reason": f.reason, "at": f.at} for f in status.failures],
        avoid=[{"host": a.host, "until": a.until} for a in status.avoid],
        retry_at=status.retry_at, created_at=i.created_at, updated_at=i.updated_at,
        usage=None, migration=migration_out(spec.migration, status),
        last_migration=result_out(status.last_migration), ha=spec.ha,
        restarted=None if restarted is None else {
            "number": restarted.number, "host": restarted.host,
            "heard_at": restarted.heard_at, "at": restarted.at},
        recovered_at=status.recovered_at,
    )


def host_out(v: HostView) -> HostOut:
    h = v.host
    return HostOut(
        name=h.name, state=h.state, up=v.up, silent=h.silent, cores=h.cores,
        memory_mib=h.memory_mib,
        used_cores=v.used.cores, used_memory_mib=v.used.memory_mib, disk_gib=h.disk_gib,
        used_disk_gib=v.used.disk_gib, instances=v.instances,
        agent_version=h.agent_version, last_heartbeat=h.last_heartbeat,
        hypervisor=h.hypervisor, reserved_for=list(h.reserved_for), groups=sorted(v.groups),
        capabilities=None if h.capabilities is None else CapabilitiesWire.of(h.capabilities),
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
                    virtual_size_bytes=i.virtual_size_bytes, created_at=i.created_at,
                    visibility=i.visibility, min_memory_mib=i.min_memory_mib)


def network_out(n: Network) -> NetworkOut:
    return NetworkOut(name=n.name, kind=n.kind, created_at=n.created_at)


def user_out(u: User) -> UserOut:
    return UserOut(name=u.name, role=u.role, created_at=u.created_at, source=u.source)


def event_out(e: Event) -> EventOut:
    res = e.resources
    return EventOut(
        id=e.id, at=e.at, kind=e.kind, message=e.message, instance_id=e.instance_id,
        host=e.host, user=e.user, actor=e.actor, old_state=e.old_state, new_state=e.new_state,
        cores=None if res is None else res.cores,
        memory_mib=None if res is None else res.memory_mib,
        disk_gib=None if res is None else res.disk_gib)


def seed_out(seed: Seed) -> SeedOut:
    data = seed.user_data.encode()
    return SeedOut(hostname=seed.hostname, ssh_keys=list(seed.ssh_keys),
                   user_data_bytes=len(data), user_data_sha256=hashlib.sha256(data).hexdigest())


def desired_out(d: DesiredInstance) -> DesiredInstanceOut:
    return DesiredInstanceOut(
        id=d.id, name=d.name, state=d.state, directive=d.directive, may_start=d.may_start,
        cores=d.cores, memory_mib=d.memory_mib,
        disks=[DesiredDiskOut(image=k.image, format=k.format, persistent=k.persistent,
                              size_gib=k.size_gib, scratch=k.scratch, bus=k.bus, cache=k.cache)
               for k in d.disks],
        nics=[DesiredNicOut(network=n.network, network_kind=n.network_kind, mac=n.mac,
                            model=n.model) for n in d.nics],
        shutdown_timeout_s=d.shutdown_timeout_s, generation=d.generation,
        seed=None if d.seed is None else DesiredSeedOut(
            hostname=d.seed.hostname, user_data=d.seed.user_data, ssh_keys=list(d.seed.ssh_keys)),
        reboots=d.reboots, reboot_hard=d.reboot_hard, resume=d.resume,
        display=None if d.display is None else DesiredDisplayOut(
            vnc=d.display.vnc, vnc_open=d.display.vnc_open,
            vnc_password=d.display.vnc_password, screenshot=d.display.screenshot),
        migration=desired_migration_out(d.migration), ha_lease_s=d.ha_lease_s)


def observation_of(o: ObservationIn) -> Observation:
    return Observation(id=o.id, observed=o.observed, detail=o.detail, console=o.console,
                       reboots=o.reboots, failure=o.failure, busy=o.busy,
                       progress=o.progress, migration=report_of(o.migration))
