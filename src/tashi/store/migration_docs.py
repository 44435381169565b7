"""The migration records of an instance's spec and status as plain documents and back
(see :mod:`tashi.store.documents`). Each record is flat but for ``MigrationSpec``'s
tunables and ``MigrationResult``'s time, so one pair of functions serves them all."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any, TypeVar

from tashi.domain.ha import HaRestart
from tashi.domain.migration import (
    IncomingEndpoint,
    MigrationProgress,
    MigrationResult,
    MigrationSpec,
    MigrationTunables,
)

R = TypeVar("R", IncomingEndpoint, MigrationProgress, MigrationResult, MigrationTunables,
            HaRestart)


def record_doc(record: object | None) -> dict[str, Any] | None:
    """A flat record (its datetimes as ISO text) as a document; None for None."""
    if record is None:
        return None
    doc: dict[str, Any] = {}
    for f in dataclasses.fields(record):  # type: ignore[arg-type]
        value = getattr(record, f.name)
        doc[f.name] = value.astimezone(UTC).isoformat() if isinstance(value, datetime) \
            else value
    return doc


def record_from_doc(cls: type[R], doc: dict[str, Any] | None) -> R | None:
    """The record of ``cls`` a document holds (fields it lacks take their defaults)."""
    if doc is None:
        return None
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in doc:
            continue
        value = doc[f.name]
        if "datetime" in str(f.type) and value is not None:
            value = datetime.fromisoformat(value).astimezone(UTC)
        values[f.name] = value
    return cls(**values)


def migration_doc(spec: MigrationSpec | None) -> dict[str, Any] | None:
    if spec is None:
        return None
    return {"number": spec.number, "source": spec.source, "target": spec.target,
            "tunables": record_doc(spec.tunables), "asked_by": spec.asked_by}


def migration_from_doc(doc: dict[str, Any] | None) -> MigrationSpec | None:
    if doc is None:
        return None
    tunables = record_from_doc(MigrationTunables, doc.get("tunables")) or MigrationTunables()
    return MigrationSpec(number=int(doc["number"]), source=str(doc["source"]),
                         target=str(doc["target"]), tunables=tunables,
                         asked_by=str(doc.get("asked_by", "")))
