"""The state users see, derived from what is wanted and what was observed. Pure.

An instance's :class:`~tashi.domain.models.InstanceSpec` says what its user wants (the
:class:`~tashi.domain.states.Power` state, the host it is bound to); its
:class:`~tashi.domain.models.InstanceStatus` says what the bound host's agent last saw.
:func:`base_state` names the pair with Tashi's state names; :func:`shown_state` adds the
one condition that depends on the host: while a bound host is silent, an instance whose
VM should be running there is Orphaned. Orphaned never replaces the intent: a shutdown
or a destroy asked while the host is silent still happens when it returns, because what
the agent is told (:func:`directive_for`) follows the spec, not the shown state.

The store caches :func:`shown_state` beside spec and status (for listing and
filtering) and recomputes it in every write that changes one of its inputs.
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum

from tashi.domain.models import InstanceSpec, InstanceStatus
from tashi.domain.states import WANTS_PROCESS, InstanceState, Power

S = InstanceState


class Directive(StrEnum):
    """What the agent of the bound host must converge the instance to."""

    RUN = "run"  # a VM process must exist and run; start it only while Activating
    PAUSE = "pause"  # the VM process must exist with its CPUs stopped (memory kept)
    SUSPEND = "suspend"  # save the VM's state to the suspend directory and end its process
    STOP = "stop"  # graceful power-off (destroy after the timeout); keep its files
    ABSENT = "absent"  # kill the VM and remove every file of it
    MIGRATE = "migrate"  # send the running VM to the target's waiting one (see migration)
    INCOMING = "incoming"  # (the migration target) start a VM waiting for the state


class Observed(StrEnum):
    """What an agent saw of an instance on its host."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"  # its process has exited; its files are still there
    ABSENT = "absent"  # no trace of it on the host
    SUSPENDED = "suspended"  # its state is saved in the suspend directory; no process
    FAILED = "failed"  # the agent tried to start it and could not


#: Base states in which a VM process should exist on the bound host: shown Orphaned
#: while that host is silent.
ORPHANABLE: frozenset[InstanceState] = WANTS_PROCESS - {S.ORPHANED}

_GONE = frozenset({Observed.STOPPED, Observed.ABSENT})


def base_state(spec: InstanceSpec, status: InstanceStatus) -> InstanceState:
    """The state of an instance from its spec and status alone (host liveness aside)."""
    if spec.host is None:
        if spec.power is Power.DELETED:
            return S.DESTROYING
        if status.saved:  # suspended, or to be resumed wherever the scheduler places it
            return S.SUSPENDED if spec.power is Power.SUSPENDED else S.RESUMING
        return S.HELD if status.held else S.PENDING
    seen = status.observed
    if spec.power is Power.DELETED:
        return S.DESTROYING
    if spec.power is Power.SUSPENDED and seen == Observed.SUSPENDED:
        return S.SUSPENDED  # saved; the manager unbinds it at once
    if spec.power is Power.STOPPED:
        return S.EXITED if seen in _GONE or status.ended else S.SHUTTING_DOWN
    if status.ended or seen == Observed.STOPPED or (seen == Observed.ABSENT and status.ran):
        return S.EXITED  # it ended by itself: reported, never restarted
    if seen == Observed.FAILED and not status.ran:
        # for the moment, until the manager unbinds it (a resume: Suspended again)
        return S.SUSPENDED if status.saved else S.HELD
    live = _live(spec.power, seen, status.ran, status.saved)
    if spec.migration is not None and live in (S.RUNNING, S.UNPAUSING):
        # the source's VM paused after sending all is still the migrating instance
        return S.MIGRATE_TRANS if endpoint_ready(spec, status) else S.MIGRATE_PREP
    return live


def endpoint_ready(spec: InstanceSpec, status: InstanceStatus) -> bool:
    """Whether the migration target's VM waits for the state of the migration wanted."""
    return (spec.migration is not None and status.incoming is not None
            and status.incoming.number == spec.migration.number)


def _live(power: Power, seen: str, ran: bool, saved: bool) -> InstanceState:
    """A bound instance whose VM should exist, and has not ended."""
    if not ran:
        return S.RESUMING if saved else S.ACTIVATING
    if power is Power.PAUSED:
        return S.PAUSED if seen == Observed.PAUSED else S.PAUSING
    if power is Power.SUSPENDED:
        return S.SUSPENDING
    return S.UNPAUSING if seen == Observed.PAUSED else S.RUNNING  # the agent thaws it


def shown_state(spec: InstanceSpec, status: InstanceStatus, *,
                host_silent: bool) -> InstanceState:
    """The state users see: :func:`base_state`, Orphaned while the bound host is silent
    and the instance's VM should be running there."""
    base = base_state(spec, status)
    return S.ORPHANED if host_silent and base in ORPHANABLE else base


def directive_for(spec: InstanceSpec, status: InstanceStatus) -> Directive:
    """What the bound host's agent must do: it follows the intent (and never restarts a
    VM that ended by itself), whatever the host's liveness."""
    if spec.power is Power.DELETED:
        return Directive.ABSENT
    if spec.power is Power.STOPPED or base_state(spec, status) is S.EXITED:
        return Directive.STOP
    if spec.power is Power.SUSPENDED:
        return Directive.SUSPEND
    if spec.power is Power.PAUSED:
        return Directive.PAUSE
    return Directive.MIGRATE if endpoint_ready(spec, status) else Directive.RUN


def may_start(spec: InstanceSpec, status: InstanceStatus) -> bool:
    """Only an instance being activated (or resumed: started from its saved state) may
    get a new VM process: a Running instance whose process is gone is reported, never
    silently restarted (no duplicates)."""
    return (base_state(spec, status) in (S.ACTIVATING, S.RESUMING) and spec.host is not None
            and status.observed in ("", Observed.ABSENT))


def awaits_placement(spec: InstanceSpec, status: InstanceStatus) -> bool:
    """Whether the scheduler is to place it: Pending, or Resuming on no host yet."""
    return spec.host is None and base_state(spec, status) in (S.PENDING, S.RESUMING)


def observed_status(status: InstanceStatus, observed: Observed) -> InstanceStatus:
    """``status`` once ``observed`` is what the bound host's agent reports: the facts
    derivation needs from the history of this binding (seen running; ended; its state
    saved, until a resumed VM runs) kept."""
    ran = status.ran or observed is Observed.RUNNING
    ended = status.ended or observed is Observed.STOPPED or (
        observed is Observed.ABSENT and ran)
    saved = observed is Observed.SUSPENDED or (status.saved and not ran)
    return replace(status, observed=observed, ran=ran, ended=ended, saved=saved)


def observation_message(observed: Observed, detail: str, host: str, *,
                        deleting: bool) -> str:
    """Words for the status line kept with the instance: why it is in its state."""
    if observed in (Observed.RUNNING, Observed.PAUSED):
        return f"host {host} reports it {observed}"
    if observed is Observed.ABSENT:
        return "" if deleting else f"no VM of it on host {host}"
    if observed is Observed.STOPPED:
        return detail or f"its VM process on host {host} exited"
    if observed is Observed.SUSPENDED:
        return f"suspended on host {host}: its state saved in the suspend directory"
    return detail
