"""Live migration as intent and observation. Pure.

A migration is asked by writing :class:`MigrationSpec` into the instance's spec (its
``number`` counts the migrations asked, like reboots): the instance stays bound to its
source host and also claims room on the target (role ``incoming``). Then, by what the
two agents report:

1. the target's agent starts a VM waiting for the state (its QEMU listening for the
   migration stream and serving the VM's disks over NBD) and reports where
   (:class:`IncomingEndpoint`): MigratePrep becomes MigrateTrans;
2. the source's agent, told where, mirrors the disks and sends the memory; the guest
   runs on until QEMU switches over, and the source's VM stays paused after it
   (reported with :class:`MigrationResult`, QEMU's own figures);
3. the target's agent sees its VM running: the manager moves the binding to the target
   in one write, and the source's agent, no longer wanting the instance, removes its
   paused copy.

A VM runs on exactly one host throughout: the target's VM runs only once the source's
has stopped for good, and the source's is removed only once the target's runs. A
migration that fails on the source (the target gone, the stream cut, a timeout) leaves
the source's VM running: the manager clears the migration, and the target's agent,
no longer wanting its waiting VM, removes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from tashi.domain.errors import InvalidInput

#: Ganeti's default maximum downtime.
DEFAULT_MAX_DOWNTIME_MS = 30
#: How long a migration may take before the source gives up (and runs on).
DEFAULT_TIMEOUT_S = 600


@dataclass(frozen=True, slots=True)
class MigrationTunables:
    """How a migration is run: the most the guest may be stopped for at switchover,
    the bandwidth (0: as fast as the link goes), QEMU's auto-converge (throttles a
    guest that dirties memory faster than it is sent) and post-copy (the guest runs on
    the target while the rest of its memory follows, when pre-copy does not
    converge)."""

    max_downtime_ms: int = DEFAULT_MAX_DOWNTIME_MS
    bandwidth_mib_s: int = 0
    auto_converge: bool = False
    postcopy: bool = False
    timeout_s: int = DEFAULT_TIMEOUT_S

    def check(self) -> MigrationTunables:
        """Itself, or InvalidInput naming the bad value."""
        if not 1 <= self.max_downtime_ms <= 60_000:
            raise InvalidInput(f"max downtime {self.max_downtime_ms} ms: give 1 to 60000 ms")
        if not 0 <= self.bandwidth_mib_s <= 1_000_000:
            raise InvalidInput(f"bandwidth {self.bandwidth_mib_s} MiB/s: give 0 (no limit) "
                               "to 1000000")
        if not 10 <= self.timeout_s <= 86_400:
            raise InvalidInput(f"migration timeout {self.timeout_s} s: give 10 to 86400 s")
        return self


@dataclass(frozen=True, slots=True)
class MigrationSpec:
    """A migration wanted: the ``number``-th of the instance, to ``target``, from
    ``source`` (the host it was bound to when asked)."""

    number: int
    source: str
    target: str
    tunables: MigrationTunables = MigrationTunables()
    asked_by: str = ""


@dataclass(frozen=True, slots=True)
class IncomingEndpoint:
    """Where the target's waiting VM takes migration ``number``: the migration stream's
    URI (``tcp:ADDRESS:PORT``) and the NBD server exporting its disks."""

    number: int
    uri: str
    nbd_host: str
    nbd_port: int


@dataclass(frozen=True, slots=True)
class MigrationProgress:
    """A migration in flight, as the source's QEMU counts it."""

    number: int
    percent: int
    transferred_bytes: int = 0
    remaining_bytes: int = 0
    dirty_pages_rate: int = 0  # pages per second the guest dirties
    phase: str = ""  # "disks" (mirroring), "memory", "switchover"


@dataclass(frozen=True, slots=True)
class Sent:
    """A migration the source's hypervisor completed: its own figures."""

    total_ms: int
    downtime_ms: int
    disks_bytes: int = 0


@dataclass(frozen=True, slots=True)
class MigrationResult:
    """A migration that completed: QEMU's measured total time and downtime."""

    number: int
    source: str
    target: str
    total_ms: int
    downtime_ms: int
    at: datetime | None = None
    disks_bytes: int = 0  # what the disks' mirrors copied

    def words(self) -> str:
        """``0.41 s total, 12 ms downtime, h1 -> h2``."""
        return (f"{self.total_ms / 1000:.2f} s total, {self.downtime_ms} ms downtime, "
                f"{self.source} -> {self.target}")


#: Which end of a migration an agent is.
Role = Literal["source", "target"]


@dataclass(frozen=True, slots=True)
class DesiredMigration:
    """What an agent is told of a migration it takes part in: the source is given the
    target's ``endpoint`` once the target reported it."""

    number: int
    role: Role
    source: str
    target: str
    tunables: MigrationTunables = MigrationTunables()
    endpoint: IncomingEndpoint | None = None


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What an agent saw of migration ``number``: the target, where its VM waits; the
    source, how far it got, that it sent all (``result``), or why it failed (its VM
    runs on)."""

    number: int
    role: Role
    endpoint: IncomingEndpoint | None = None
    progress: MigrationProgress | None = None
    result: MigrationResult | None = None
    failure: str = ""
