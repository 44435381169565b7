"""Instance and host states, the power state users ask for, and the one table of
allowed instance transitions.

State names are Tashi's, because operators know them. An instance's state is never
written as intent: it is derived (:mod:`tashi.domain.derive`) from its spec's wanted
:class:`Power`, what its host's agent observed, and whether that host is silent. The
table says which user actions a state allows (shutdown: to ShuttingDown; destroy: to
Destroying) and which changes derivation may make; :func:`check_transition` refuses the
rest with a reason.
"""

from __future__ import annotations

from enum import StrEnum

from tashi.domain.errors import InvalidTransition


class Power(StrEnum):
    """The power state a user wants for an instance: the intent, kept in its spec.

    Only user, admin and scheduler actions change it; what agents observe never
    does (a VM that exits by itself is Exited with ``running`` still wanted)."""

    RUNNING = "running"
    PAUSED = "paused"
    SUSPENDED = "suspended"
    STOPPED = "stopped"  # shut down gracefully (destroyed after the timeout), files kept
    DELETED = "deleted"  # its VM killed, its files removed, then its record


class InstanceState(StrEnum):
    PENDING = "Pending"  # wanted, not yet placed on a host
    ACTIVATING = "Activating"  # bound to a host; its agent is starting it
    RUNNING = "Running"
    PAUSING = "Pausing"
    PAUSED = "Paused"
    UNPAUSING = "Unpausing"
    SUSPENDING = "Suspending"  # saving its memory to disk
    SUSPENDED = "Suspended"  # saved to disk, no process anywhere
    RESUMING = "Resuming"
    MIGRATE_PREP = "MigratePrep"  # target host preparing an incoming VM
    MIGRATE_TRANS = "MigrateTrans"  # memory being transferred
    SHUTTING_DOWN = "ShuttingDown"  # ACPI power button sent; destroy after a timeout
    DESTROYING = "Destroying"  # being killed and cleaned up; record removed after
    ORPHANED = "Orphaned"  # its host stopped reporting; may come back
    HELD = "Held"  # could not be placed or started; kept with a reason
    EXITED = "Exited"  # its VM is gone (shut down, crashed, or lost)


S = InstanceState

#: Every allowed ``old -> new`` change. One table; the rest of the code asks it.
TRANSITIONS: dict[InstanceState, frozenset[InstanceState]] = {
    S.PENDING: frozenset({S.ACTIVATING, S.HELD, S.DESTROYING}),
    S.ACTIVATING: frozenset({S.RUNNING, S.HELD, S.EXITED, S.SHUTTING_DOWN, S.DESTROYING,
                             S.ORPHANED}),
    # Running -> Unpausing: its VM was paused outside Tashi (the agent thaws it)
    S.RUNNING: frozenset({S.PAUSING, S.UNPAUSING, S.SUSPENDING, S.MIGRATE_PREP,
                          S.SHUTTING_DOWN, S.DESTROYING, S.ORPHANED, S.EXITED}),
    S.PAUSING: frozenset({S.PAUSED, S.RUNNING, S.DESTROYING, S.ORPHANED, S.EXITED}),
    # Paused -> Pausing: its VM was thawed outside Tashi (the agent pauses it again)
    S.PAUSED: frozenset({S.UNPAUSING, S.PAUSING, S.SUSPENDING, S.SHUTTING_DOWN, S.DESTROYING,
                         S.ORPHANED, S.EXITED}),
    S.UNPAUSING: frozenset({S.RUNNING, S.PAUSED, S.DESTROYING, S.ORPHANED, S.EXITED}),
    # Suspending -> Running or Paused: the save failed, the VM runs on as it was
    S.SUSPENDING: frozenset({S.SUSPENDED, S.RUNNING, S.PAUSED, S.DESTROYING, S.ORPHANED,
                             S.EXITED}),
    S.SUSPENDED: frozenset({S.RESUMING, S.DESTROYING}),
    # Resuming -> Resuming: placed on a host (its agent restores it there); -> Suspended:
    # the restore failed, the saved state kept
    S.RESUMING: frozenset({S.RESUMING, S.RUNNING, S.SUSPENDED, S.DESTROYING, S.ORPHANED,
                           S.EXITED}),
    S.MIGRATE_PREP: frozenset({S.MIGRATE_TRANS, S.RUNNING, S.DESTROYING, S.ORPHANED,
                               S.EXITED}),
    S.MIGRATE_TRANS: frozenset({S.RUNNING, S.DESTROYING, S.ORPHANED, S.EXITED}),
    S.SHUTTING_DOWN: frozenset({S.EXITED, S.DESTROYING, S.ORPHANED}),
    S.DESTROYING: frozenset(),  # ends with the record's removal
    S.ORPHANED: frozenset({S.RUNNING, S.PAUSED, S.EXITED, S.SHUTTING_DOWN, S.DESTROYING}),
    S.HELD: frozenset({S.PENDING, S.DESTROYING}),
    S.EXITED: frozenset({S.DESTROYING}),
}


def can_transition(old: InstanceState, new: InstanceState) -> bool:
    return new in TRANSITIONS[old]


def check_transition(old: InstanceState, new: InstanceState, *, what: str) -> None:
    """Raise :class:`InvalidTransition` naming ``what`` unless ``old -> new`` is allowed."""
    if not can_transition(old, new):
        raise InvalidTransition(f"{what}: cannot go from {old} to {new}")


#: States in which a VM process is wanted on the bound host.
WANTS_PROCESS: frozenset[InstanceState] = frozenset({
    S.ACTIVATING, S.RUNNING, S.PAUSING, S.PAUSED, S.UNPAUSING, S.SUSPENDING, S.RESUMING,
    S.MIGRATE_PREP, S.MIGRATE_TRANS, S.ORPHANED,
})

#: States in which a migration wanted holds room on its target too (Orphaned: the
#: source went silent, and the target's VM may run).
MIGRATING: frozenset[InstanceState] = frozenset({S.MIGRATE_PREP, S.MIGRATE_TRANS, S.ORPHANED})

#: States whose resources count against the bound host's capacity.
HOLDS_RESOURCES: frozenset[InstanceState] = WANTS_PROCESS | {S.SHUTTING_DOWN, S.DESTROYING}


class HostState(StrEnum):
    """The administrative state of a host (whether it is *up* is derived from heartbeats)."""

    NORMAL = "Normal"
    DRAINED = "Drained"  # takes no new instances
    EVACUATING = "Evacuating"  # takes none, and what it runs is moved away (then Drained)
    VERSION_MISMATCH = "VersionMismatch"  # its agent speaks another version


class Role(StrEnum):
    ADMIN = "admin"
    USER = "user"
