"""An instance's spec and status as plain documents (JSON-ready dicts) and back.

The SQL store keeps them in JSON columns; export files and the pickle store use the
same shape. The spec document leaves out ``host``, which the SQL store keeps in a
column of its own; :func:`spec_doc` adds it when asked to.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from tashi.domain.models import DiskSpec, InstanceSpec, InstanceStatus, NicSpec


def spec_doc(spec: InstanceSpec, *, with_host: bool = False) -> dict[str, Any]:
    """The spec as stored, without its host unless ``with_host``."""
    doc: dict[str, Any] = {
        "cores": spec.cores,
        "memory_mib": spec.memory_mib,
        "disks": [{"image": d.image, "persistent": d.persistent} for d in spec.disks],
        "nics": [{"network": n.network, "mac": n.mac, "model": n.model} for n in spec.nics],
        "shutdown_timeout_s": spec.shutdown_timeout_s,
    }
    if with_host:
        doc["host"] = spec.host
    return doc


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
        "observed_at": None if observed_at is None else utc(observed_at).isoformat(),
        "observed_generation": status.observed_generation,
    }


def status_from_doc(doc: dict[str, Any]) -> InstanceStatus:
    observed_at = doc.get("observed_at")
    return InstanceStatus(
        observed=str(doc.get("observed", "")),
        message=str(doc.get("message", "")),
        observed_at=None if observed_at is None else utc(datetime.fromisoformat(observed_at)),
        observed_generation=int(doc.get("observed_generation", 0)),
    )


def maybe_utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


def utc(value: datetime) -> datetime:
    """``value`` in UTC; a naive datetime is refused (Tashi stores timezone-aware UTC)."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: Tashi stores timezone-aware UTC")
    return value.astimezone(UTC)
