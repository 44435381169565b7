"""An instance's spec and status as plain documents (JSON-ready dicts) and back.

The SQL store keeps them in JSON columns; export files and the pickle store use the
same shape. The spec document leaves out ``host``, which the SQL store keeps in a
column of its own; :func:`spec_doc` adds it when asked to.

Documents written before a field existed lack it: reading one gives the field's
default (no placement wishes, no failed starts), so old records stay readable.
Fields at their default are left out of new documents too.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Any, TypeVar, cast

from tashi.domain.ha import HaRestart
from tashi.domain.migration import IncomingEndpoint, MigrationProgress, MigrationResult
from tashi.domain.models import (
    AvoidedHost,
    DiskBus,
    DiskCache,
    DiskSpec,
    InstanceSpec,
    InstanceStatus,
    NicSpec,
    Seed,
    StartFailure,
)
from tashi.domain.states import Power
from tashi.store.migration_docs import (
    migration_doc,
    migration_from_doc,
    record_doc,
    record_from_doc,
)

E = TypeVar("E", bound=Enum)

#: The placement fields of a spec and their defaults (left out when at them).
_PLACEMENT: dict[str, Any] = {"target_host": None, "allow_elsewhere": False,
                              "group": None, "anti_affinity": False, "power": Power.RUNNING,
                              "reboots": 0, "reboot_hard": False, "migrations": 0,
                              "relocating": False, "ha": False}
#: A disk's fields beyond image and persistent, and their defaults (left out when at them).
_DISK: dict[str, Any] = {"size_gib": 0, "scratch": False, "bus": DiskBus.VIRTIO,
                         "cache": DiskCache.WRITEBACK}
#: The status's facts of the current binding, left out when false.
_FACTS = ("ran", "ended", "held", "saved")
_MIGRATION_RECORDS = ("incoming", "migrating", "migrated", "last_migration")


def spec_doc(spec: InstanceSpec, *, with_host: bool = False) -> dict[str, Any]:
    """The spec as stored, without its host unless ``with_host``."""
    doc: dict[str, Any] = {
        "cores": spec.cores,
        "memory_mib": spec.memory_mib,
        "disks": [_disk_doc(d) for d in spec.disks],
        "nics": [{"network": n.network, "mac": n.mac, "model": n.model} for n in spec.nics],
        "shutdown_timeout_s": spec.shutdown_timeout_s,
    }
    for key, default in _PLACEMENT.items():
        value = getattr(spec, key)
        if value != default:
            doc[key] = str(value) if key == "power" else value
    if spec.seed is not None:
        doc["seed"] = {"hostname": spec.seed.hostname, "user_data": spec.seed.user_data,
                       "ssh_keys": list(spec.seed.ssh_keys)}
    if spec.migration is not None:
        doc["migration"] = migration_doc(spec.migration)
    if spec.restarted is not None:
        doc["restarted"] = record_doc(spec.restarted)
    if with_host:
        doc["host"] = spec.host
    return doc


def _disk_doc(disk: DiskSpec) -> dict[str, Any]:
    doc: dict[str, Any] = {"image": disk.image, "persistent": disk.persistent}
    for key, default in _DISK.items():
        value = getattr(disk, key)
        if value != default:
            doc[key] = value
    return doc


def _disk_from_doc(d: dict[str, Any]) -> DiskSpec:
    return DiskSpec(image=str(d["image"]), persistent=bool(d["persistent"]),
                    size_gib=int(d.get("size_gib", 0)), scratch=bool(d.get("scratch", False)),
                    bus=member(DiskBus, d.get("bus", DiskBus.VIRTIO)),
                    cache=member(DiskCache, d.get("cache", DiskCache.WRITEBACK)))


def member(kind: type[E], value: Any) -> E:
    """``kind(value)``, looked up in a dict first: an Enum's call costs microseconds,
    which a listing of 20,000 instances would pay several times a row."""
    found = kind._value2member_map_.get(value)
    return kind(value) if found is None else cast(E, found)


def spec_from_doc(doc: dict[str, Any], host: str | None) -> InstanceSpec:
    target, group = doc.get("target_host"), doc.get("group")
    disks = [_disk_from_doc(d) for d in doc["disks"]]
    if doc.get("disk_gib"):  # written before disks had sizes: one scratch disk of it
        disks.append(DiskSpec(size_gib=int(doc["disk_gib"]), scratch=True))
    return InstanceSpec(
        cores=int(doc["cores"]),
        memory_mib=int(doc["memory_mib"]),
        disks=tuple(disks),
        nics=tuple(
            NicSpec(network=str(n["network"]), mac=str(n["mac"]), model=str(n["model"]))
            for n in doc["nics"]
        ),
        host=host,
        shutdown_timeout_s=int(doc["shutdown_timeout_s"]),
        target_host=None if target is None else str(target),
        allow_elsewhere=bool(doc.get("allow_elsewhere", False)),
        group=None if group is None else str(group),
        anti_affinity=bool(doc.get("anti_affinity", False)),
        power=member(Power, doc.get("power", Power.RUNNING)),
        seed=_seed_from_doc(doc.get("seed")),
        reboots=int(doc.get("reboots", 0)),
        reboot_hard=bool(doc.get("reboot_hard", False)),
        migration=migration_from_doc(doc.get("migration")),
        migrations=int(doc.get("migrations", 0)),
        relocating=bool(doc.get("relocating", False)),
        ha=bool(doc.get("ha", False)),
        restarted=record_from_doc(HaRestart, doc.get("restarted")),
    )


def _seed_from_doc(doc: dict[str, Any] | None) -> Seed | None:
    if doc is None:
        return None
    return Seed(hostname=str(doc["hostname"]), user_data=str(doc.get("user_data", "")),
                ssh_keys=tuple(str(k) for k in doc.get("ssh_keys", ())))


def status_doc(status: InstanceStatus) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "observed": status.observed,
        "message": status.message,
        "observed_at": _time_out(status.observed_at),
        "observed_generation": status.observed_generation,
    }
    if status.failures:
        doc["failures"] = [{"host": f.host, "reason": f.reason, "at": _time_out(f.at)}
                           for f in status.failures]
    if status.avoid:
        doc["avoid"] = [{"host": a.host, "until": _time_out(a.until)} for a in status.avoid]
    if status.retry_at is not None:
        doc["retry_at"] = _time_out(status.retry_at)
    doc.update({fact: True for fact in _FACTS if getattr(status, fact)})
    if status.reboots_done:
        doc["reboots_done"] = status.reboots_done
    if status.progress is not None:
        doc["progress"] = status.progress
    if status.last_failure:
        doc["last_failure"] = status.last_failure
    for key in _MIGRATION_RECORDS:
        if getattr(status, key) is not None:
            doc[key] = record_doc(getattr(status, key))
    if status.recovered_at is not None:
        doc["recovered_at"] = _time_out(status.recovered_at)
    return doc


def status_from_doc(doc: dict[str, Any]) -> InstanceStatus:
    return InstanceStatus(
        observed=str(doc.get("observed", "")),
        message=str(doc.get("message", "")),
        observed_at=_time_in(doc.get("observed_at")),
        observed_generation=int(doc.get("observed_generation", 0)),
        failures=tuple(StartFailure(host=str(f["host"]), reason=str(f["reason"]),
                                    at=utc(datetime.fromisoformat(f["at"])))
                       for f in doc.get("failures", ())),
        avoid=tuple(AvoidedHost(host=str(a["host"]), until=utc(datetime.fromisoformat(a["until"])))
                    for a in doc.get("avoid", ())),
        retry_at=_time_in(doc.get("retry_at")),
        ran=bool(doc.get("ran", False)),
        ended=bool(doc.get("ended", False)),
        held=bool(doc.get("held", False)),
        reboots_done=int(doc.get("reboots_done", 0)),
        saved=bool(doc.get("saved", False)),
        progress=None if doc.get("progress") is None else int(doc["progress"]),
        last_failure=str(doc.get("last_failure", "")),
        incoming=record_from_doc(IncomingEndpoint, doc.get("incoming")),
        migrating=record_from_doc(MigrationProgress, doc.get("migrating")),
        migrated=record_from_doc(MigrationResult, doc.get("migrated")),
        last_migration=record_from_doc(MigrationResult, doc.get("last_migration")),
        recovered_at=_time_in(doc.get("recovered_at")),
    )


def _time_out(value: datetime | None) -> str | None:
    return None if value is None else utc(value).isoformat()


def _time_in(value: Any) -> datetime | None:
    return None if value is None else utc(datetime.fromisoformat(value))


def maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused (Tashi stores timezone-aware UTC)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Tashi stores timezone-aware UTC")
    return value.astimezone(UTC)
