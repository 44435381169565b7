"""High availability: an instance created with ``--ha`` is restarted on another host,
from its image, once its host stopped heartbeating and that host's lease expired. Pure.

The lease is what makes the restart safe. A host's agent counts it from the start of
its last heartbeat the manager answered; once it ran out (less a margin), the agent
pauses its HA instances itself (:data:`FENCE_MARGIN_S`), so none of them can still run
there when the manager, counting from the arrival of that heartbeat, restarts them
elsewhere. An agent that comes back destroys the copy whose instance is now bound to
another host (it runs only what its desired state names), and thaws the ones still
bound to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from tashi.domain.states import InstanceState, Power

if TYPE_CHECKING:  # the models hold a HaRestart
    from tashi.domain.models import Host, Instance

#: Seconds before its lease runs out at which an agent that has not heard the manager
#: pauses its HA instances: more than a heartbeat's round trip and the agent's tick.
FENCE_MARGIN_S = 5.0
#: The lease of a host, in seconds, when nothing else is set: the heartbeat timeout.
DEFAULT_LEASE_S = 30.0


@dataclass(frozen=True, slots=True)
class HaRestart:
    """The last HA restart of an instance: the host it left, when that host was last
    heard, and when the manager restarted it."""

    number: int  # its HA restarts so far, this one included
    host: str
    heard_at: datetime
    at: datetime


def lease_expired(host: Host, now: datetime, lease_s: float, since: datetime) -> bool:
    """Whether ``host``'s lease ran out at ``now``: ``lease_s`` after its last heartbeat,
    or after ``since`` (the manager's start: it cannot know of heartbeats before it)."""
    if host.last_heartbeat is None:
        return False
    return now - max(host.last_heartbeat, since) >= timedelta(seconds=lease_s)


def restartable(instance: Instance, host: Host) -> bool:
    """Whether ``instance`` is restarted elsewhere now that ``host``, its bound host, is
    silent and past its lease: an HA instance that should be running there, with no
    migration under way (the migration's own rules end that first)."""
    return (instance.spec.ha and instance.spec.host == host.name and host.silent
            and instance.state is InstanceState.ORPHANED
            and instance.spec.power is Power.RUNNING and instance.spec.migration is None)


def fence_after_s(lease_s: float) -> float:
    """Seconds after its last answered heartbeat at which an agent pauses its HA
    instances: the lease less :data:`FENCE_MARGIN_S` (a third of a short lease)."""
    return lease_s - min(FENCE_MARGIN_S, lease_s / 3)
