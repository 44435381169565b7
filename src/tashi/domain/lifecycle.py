"""What an agent is asked to do for an instance, what it may answer, and how an
answer moves the instance's state. Pure: the manager applies these rules, the
agent follows the directives."""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from tashi.domain.states import WANTS_PROCESS, InstanceState

S = InstanceState


class Directive(StrEnum):
    """What the agent of the bound host must converge the instance to."""

    RUN = "run"  # a VM process must exist; start it only while Activating
    STOP = "stop"  # graceful power-off (destroy after the timeout); keep its files
    ABSENT = "absent"  # kill the VM and remove every file of it


class Observed(StrEnum):
    """What an agent saw of an instance on its host."""

    RUNNING = "running"
    PAUSED = "paused"
    STOPPED = "stopped"  # its process has exited; its files are still there
    ABSENT = "absent"  # no trace of it on the host
    FAILED = "failed"  # the agent tried to start it and could not


DELETE: Final = "delete"
"""Returned by :func:`next_state` when the instance's record must now be removed."""


def directive_for(state: InstanceState) -> Directive:
    if state in WANTS_PROCESS:
        return Directive.RUN
    if state is S.DESTROYING:
        return Directive.ABSENT
    return Directive.STOP  # ShuttingDown, Exited (and, defensively, anything unbound)


def may_start(state: InstanceState) -> bool:
    """Only an instance being activated may get a new VM process: a Running instance
    whose process is gone is reported, never silently restarted (no duplicates)."""
    return state is S.ACTIVATING


_RULES: dict[tuple[InstanceState, Observed], InstanceState | str] = {
    (S.ACTIVATING, Observed.RUNNING): S.RUNNING,
    (S.ACTIVATING, Observed.FAILED): S.HELD,
    (S.ACTIVATING, Observed.STOPPED): S.EXITED,
    (S.RUNNING, Observed.STOPPED): S.EXITED,
    (S.RUNNING, Observed.ABSENT): S.EXITED,
    (S.ORPHANED, Observed.RUNNING): S.RUNNING,
    (S.ORPHANED, Observed.STOPPED): S.EXITED,
    (S.ORPHANED, Observed.ABSENT): S.EXITED,
    (S.SHUTTING_DOWN, Observed.STOPPED): S.EXITED,
    (S.SHUTTING_DOWN, Observed.ABSENT): S.EXITED,
    (S.DESTROYING, Observed.ABSENT): DELETE,
}


def next_state(state: InstanceState, observed: Observed) -> InstanceState | str | None:
    """The state an observation moves ``state`` to, :data:`DELETE`, or None for no change."""
    return _RULES.get((state, observed))


def observation_message(state: InstanceState, observed: Observed, detail: str,
                        host: str) -> str:
    """Words for the status line kept with the instance: why it is in its state."""
    if observed in (Observed.RUNNING, Observed.PAUSED):
        return f"host {host} reports it {observed}"
    if observed is Observed.ABSENT:
        return f"no VM of it on host {host}" if state is not S.DESTROYING else ""
    if observed is Observed.STOPPED:
        return detail or f"its VM process on host {host} exited"
    return detail
