"""Live migration on the wire: what a user asks, what an instance shows, and what the
two agents of a migration are told and report (see :mod:`tashi.domain.migration`)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from tashi.api.schemas.base import MAX_ID, Bool, HostName, Int, Wire
from tashi.domain.migration import (
    DesiredMigration,
    IncomingEndpoint,
    MigrationProgress,
    MigrationReport,
    MigrationResult,
    MigrationSpec,
    MigrationTunables,
)
from tashi.domain.models import InstanceStatus

Role = Literal["source", "target"]


class MigrateIn(Wire):
    to: HostName | None = Field(default=None, description="the target host (default: "
                                "one the scheduler's rules find room on)")
    max_downtime_ms: Int = Field(default=30, ge=1, le=60_000,
                                 description="the most the guest may be stopped for")
    bandwidth_mib_s: Int = Field(default=0, ge=0, le=1_000_000, description="0: no limit")
    auto_converge: Bool = False
    postcopy: Bool = Field(default=False, description="switch to post-copy when pre-copy "
                           "does not converge")
    timeout_s: Int = Field(default=600, ge=10, le=86_400,
                           description="the source gives up after it (the VM runs on)")


class TunablesWire(Wire):
    max_downtime_ms: Int = Field(ge=1, le=60_000)
    bandwidth_mib_s: Int = Field(ge=0, le=1_000_000)
    auto_converge: Bool
    postcopy: Bool
    timeout_s: Int = Field(ge=10, le=86_400)


class EndpointWire(Wire):
    number: Int = Field(ge=1, le=MAX_ID)
    uri: str = Field(max_length=300, pattern=r"^tcp:[0-9A-Za-z.:\[\]-]+:[0-9]{1,5}$")
    nbd_host: str = Field(max_length=255, pattern=r"^[0-9A-Za-z.:-]+$")
    nbd_port: Int = Field(ge=1, le=65535)


class ProgressWire(Wire):
    number: Int = Field(ge=1, le=MAX_ID)
    percent: Int = Field(ge=0, le=100)
    transferred_bytes: Int = Field(default=0, ge=0)
    remaining_bytes: Int = Field(default=0, ge=0)
    dirty_pages_rate: Int = Field(default=0, ge=0)
    phase: str = Field(default="", max_length=32)


class ResultWire(Wire):
    number: Int = Field(ge=1, le=MAX_ID)
    source: str = Field(max_length=63)
    target: str = Field(max_length=63)
    total_ms: Int = Field(ge=0)
    downtime_ms: Int = Field(ge=0)
    at: datetime | None = None
    disks_bytes: Int = Field(default=0, ge=0)


class DesiredMigrationOut(Wire):
    number: int
    role: Role
    source: str
    target: str
    tunables: TunablesWire
    endpoint: EndpointWire | None = None


class MigrationReportIn(Wire):
    number: Int = Field(ge=1, le=MAX_ID)
    role: Role
    endpoint: EndpointWire | None = None
    progress: ProgressWire | None = None
    result: ResultWire | None = None
    failure: str = Field(default="", max_length=2000)


class MigrationOut(Wire):
    """A migration wanted or under way, as an instance shows it."""

    number: int
    source: str
    target: str
    tunables: TunablesWire
    asked_by: str = ""
    phase: str = Field(default="", description="preparing, disks, memory, switchover")
    percent: int | None = None
    transferred_bytes: int | None = None
    remaining_bytes: int | None = None
    dirty_pages_rate: int | None = None


# --- between the wire and the domain's records (used by the manager and the agent) -----

def tunables_out(t: MigrationTunables) -> TunablesWire:
    return TunablesWire(max_downtime_ms=t.max_downtime_ms, bandwidth_mib_s=t.bandwidth_mib_s,
                        auto_converge=t.auto_converge, postcopy=t.postcopy,
                        timeout_s=t.timeout_s)


def tunables_of(w: TunablesWire | MigrateIn) -> MigrationTunables:
    return MigrationTunables(max_downtime_ms=w.max_downtime_ms,
                             bandwidth_mib_s=w.bandwidth_mib_s,
                             auto_converge=w.auto_converge, postcopy=w.postcopy,
                             timeout_s=w.timeout_s)


def _endpoint_out(e: IncomingEndpoint | None) -> EndpointWire | None:
    return None if e is None else EndpointWire(number=e.number, uri=e.uri,
                                               nbd_host=e.nbd_host, nbd_port=e.nbd_port)


def _endpoint_of(w: EndpointWire | None) -> IncomingEndpoint | None:
    return None if w is None else IncomingEndpoint(w.number, w.uri, w.nbd_host, w.nbd_port)


def desired_migration_out(d: DesiredMigration | None) -> DesiredMigrationOut | None:
    if d is None:
        return None
    return DesiredMigrationOut(number=d.number, role=d.role, source=d.source, target=d.target,
                               tunables=tunables_out(d.tunables),
                               endpoint=_endpoint_out(d.endpoint))


def desired_migration_of(w: DesiredMigrationOut | None) -> DesiredMigration | None:
    if w is None:
        return None
    return DesiredMigration(number=w.number, role=w.role, source=w.source, target=w.target,
                            tunables=tunables_of(w.tunables), endpoint=_endpoint_of(w.endpoint))


def report_out(r: MigrationReport | None) -> MigrationReportIn | None:
    if r is None:
        return None
    p, res = r.progress, r.result
    return MigrationReportIn(
        number=r.number, role=r.role, endpoint=_endpoint_out(r.endpoint), failure=r.failure,
        progress=None if p is None else ProgressWire(
            number=p.number, percent=p.percent, transferred_bytes=p.transferred_bytes,
            remaining_bytes=p.remaining_bytes, dirty_pages_rate=p.dirty_pages_rate,
            phase=p.phase),
        result=result_out(res))


def report_of(w: MigrationReportIn | None) -> MigrationReport | None:
    if w is None:
        return None
    p, res = w.progress, w.result
    return MigrationReport(
        number=w.number, role=w.role, endpoint=_endpoint_of(w.endpoint), failure=w.failure,
        progress=None if p is None else MigrationProgress(
            p.number, p.percent, p.transferred_bytes, p.remaining_bytes, p.dirty_pages_rate,
            p.phase),
        result=None if res is None else MigrationResult(
            res.number, res.source, res.target, res.total_ms, res.downtime_ms, res.at,
            res.disks_bytes))


def result_out(r: MigrationResult | None) -> ResultWire | None:
    return None if r is None else ResultWire(
        number=r.number, source=r.source, target=r.target, total_ms=r.total_ms,
        downtime_ms=r.downtime_ms, at=r.at, disks_bytes=r.disks_bytes)


def migration_out(m: MigrationSpec | None, status: InstanceStatus) -> MigrationOut | None:
    """The migration wanted, with how far it got (the source's last progress)."""
    if m is None:
        return None
    p = status.migrating if status.migrating is not None and \
        status.migrating.number == m.number else None
    ready = status.incoming is not None and status.incoming.number == m.number
    phase = "switching" if status.migrated is not None else (
        p.phase if p is not None else ("ready" if ready else "preparing"))
    return MigrationOut(
        number=m.number, source=m.source, target=m.target, tunables=tunables_out(m.tunables),
        asked_by=m.asked_by, phase=phase, percent=None if p is None else p.percent,
        transferred_bytes=None if p is None else p.transferred_bytes,
        remaining_bytes=None if p is None else p.remaining_bytes,
        dirty_pages_rate=None if p is None else p.dirty_pages_rate)
