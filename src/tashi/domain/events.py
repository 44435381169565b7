"""Events: the structured audit trail of a cluster, and accounting's input.

Every change that matters leaves one :class:`Event`: what kind of change, when, who
did it (``actor``), which instance, host and user it concerns, the instance's old and
new state, the resources it claimed, and a line in words (``message``). Users see the
events of their own instances (``user`` is the instance's owner); admins see all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from tashi.domain.resources import Resources
from tashi.domain.states import InstanceState


class EventKind(StrEnum):
    INSTANCE_CREATED = "instance.created"
    INSTANCE_PLACED = "instance.placed"  # bound to a host by the scheduler
    INSTANCE_STATE = "instance.state"  # its derived state changed
    INSTANCE_DELETED = "instance.deleted"  # its record removed
    INSTANCE_ASKED = "instance.asked"  # an operation asked that keeps its state (reboot)
    INSTANCE_REBOOTED = "instance.rebooted"  # its host's agent rebooted its VM
    INSTANCE_MIGRATED = "instance.migrated"  # a live migration completed, failed or was aborted
    INSTANCE_RECOVERED = "instance.recovered"  # running again after an HA restart
    HOST_REGISTERED = "host.registered"
    HOST_JOINED = "host.joined"
    HOST_CREDENTIAL = "host.credential"
    HOST_SILENT = "host.silent"  # stopped heartbeating
    HOST_BACK = "host.back"  # heartbeats again after being silent
    HOST_STATE = "host.state"  # Normal, Drained
    HOST_RESERVED = "host.reserved"
    USER_ADDED = "user.added"
    USER_CHANGED = "user.changed"  # role or password
    USER_REMOVED = "user.removed"
    TOKEN_CREATED = "token.created"  # noqa: S105 (an event kind, not a secret)
    TOKEN_REVOKED = "token.revoked"  # noqa: S105
    NOTE = "note"  # anything else


@dataclass(frozen=True, slots=True)
class EventFacts:
    """What an event says beyond its message; every field optional."""

    kind: EventKind = EventKind.NOTE
    actor: str = ""  # e.g. "user alice", "agent of host h1", "manager", "scheduler"
    user: str | None = None  # the user it concerns: an instance's owner, a token's holder
    old_state: InstanceState | None = None
    new_state: InstanceState | None = None
    resources: Resources | None = None  # what the instance claims (its spec's vector)


@dataclass(frozen=True, slots=True)
class Event:
    id: int
    instance_id: int | None
    host: str | None
    message: str
    at: datetime
    kind: EventKind = EventKind.NOTE
    actor: str = ""
    user: str | None = None
    old_state: InstanceState | None = None
    new_state: InstanceState | None = None
    resources: Resources | None = None


NO_FACTS = EventFacts()
