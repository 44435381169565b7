"""Which agents a manager trusts with new instances: those of its own version.

A heartbeat reporting a version other than the manager's, from a host whose recorded
version was another (a new agent, or one upgraded or downgraded since), puts a Normal
host in VersionMismatch: nothing new is placed there. An admin allows it anyway by
returning it to Normal (``tashi host undrain``); it stays allowed until its agent's
version changes again. A heartbeat with the manager's version ends a VersionMismatch.
So a rolling upgrade (the managers first, then the agents one by one) flags no host
that ran before it, and the first agent of a stray version is never trusted silently.
"""

from __future__ import annotations

from tashi.domain.states import HostState


def version_state(state: HostState, manager: str, recorded: str,
                  reported: str) -> tuple[HostState, str] | None:
    """The state a host in ``state`` goes to, and why, when its agent reports version
    ``reported`` after ``recorded`` (None: it stays as it is)."""
    if reported == manager:
        if state is HostState.VERSION_MISMATCH:
            return HostState.NORMAL, f"its agent runs version {reported}, the manager's"
        return None
    if reported != recorded and state is HostState.NORMAL:
        return HostState.VERSION_MISMATCH, (f"its agent runs version {reported}, not "
                                            f"the manager's {manager}")
    return None
