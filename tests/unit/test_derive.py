"""The state users see, derived from intent (spec) and observation (status)."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from tashi.domain.derive import (
    ORPHANABLE,
    Directive,
    Observed,
    base_state,
    directive_for,
    may_start,
    observed_status,
    shown_state,
)
from tashi.domain.models import DiskSpec, InstanceSpec, InstanceStatus
from tashi.domain.states import TRANSITIONS, InstanceState, Power

S = InstanceState
SPEC = InstanceSpec(cores=1, memory_mib=128, disks=(DiskSpec("img"),), nics=())
BOUND = replace(SPEC, host="h1")
SEEN = [""] + [o.value for o in Observed]


def status(observed: str = "", *, ran: bool = False, held: bool = False) -> InstanceStatus:
    return InstanceStatus(observed=observed, ran=ran, held=held)


@pytest.mark.parametrize(("power", "observed", "ran", "expected"), [
    (Power.RUNNING, "", False, S.ACTIVATING),
    (Power.RUNNING, Observed.ABSENT, False, S.ACTIVATING),  # not started yet
    (Power.RUNNING, Observed.RUNNING, True, S.RUNNING),
    (Power.RUNNING, Observed.FAILED, False, S.HELD),
    (Power.RUNNING, Observed.STOPPED, True, S.EXITED),  # ended by itself
    (Power.RUNNING, Observed.ABSENT, True, S.EXITED),  # vanished
    (Power.RUNNING, Observed.PAUSED, False, S.ACTIVATING),  # not yet seen running
    (Power.RUNNING, Observed.PAUSED, True, S.UNPAUSING),  # unpause asked: the agent thaws
    (Power.PAUSED, Observed.RUNNING, True, S.PAUSING),
    (Power.PAUSED, Observed.PAUSED, True, S.PAUSED),
    (Power.STOPPED, Observed.RUNNING, True, S.SHUTTING_DOWN),
    (Power.STOPPED, "", False, S.SHUTTING_DOWN),
    (Power.STOPPED, Observed.STOPPED, True, S.EXITED),
    (Power.STOPPED, Observed.ABSENT, False, S.EXITED),
    (Power.DELETED, Observed.RUNNING, True, S.DESTROYING),
    (Power.DELETED, Observed.ABSENT, True, S.DESTROYING),  # the record goes next
])
def test_bound_instance(power: Power, observed: str, ran: bool, expected: S) -> None:
    assert base_state(replace(BOUND, power=power), status(observed, ran=ran)) is expected


def test_unbound_instance_is_pending_or_held() -> None:
    assert base_state(SPEC, status()) is S.PENDING
    assert base_state(SPEC, status(held=True)) is S.HELD
    assert base_state(replace(SPEC, power=Power.DELETED), status()) is S.DESTROYING


def test_a_silent_host_orphans_only_what_should_run_there() -> None:
    for power, seen, ran in itertools.product(Power, SEEN, (False, True)):
        spec, st = replace(BOUND, power=power), status(seen, ran=ran)
        base = base_state(spec, st)
        shown = shown_state(spec, st, host_silent=True)
        assert shown is (S.ORPHANED if base in ORPHANABLE else base), (power, seen, ran)
        assert shown_state(spec, st, host_silent=False) is base


def test_orphaned_keeps_the_intent_the_regression() -> None:
    """Shutdown (then destroy) asked while the host is silent: the agent is told to stop
    (then to remove it), not to run; once the host reports, the instance ends."""
    running = status(Observed.RUNNING, ran=True)
    assert shown_state(BOUND, running, host_silent=True) is S.ORPHANED
    stop = replace(BOUND, power=Power.STOPPED)
    assert shown_state(stop, running, host_silent=True) is S.SHUTTING_DOWN
    assert directive_for(stop, running) is Directive.STOP
    assert base_state(stop, status(Observed.STOPPED, ran=True)) is S.EXITED
    delete = replace(BOUND, power=Power.DELETED)
    assert directive_for(delete, running) is Directive.ABSENT


def test_directives_follow_the_spec() -> None:
    assert directive_for(BOUND, status(Observed.RUNNING, ran=True)) is Directive.RUN
    # a VM that ended by itself is never restarted
    assert directive_for(BOUND, status(Observed.STOPPED, ran=True)) is Directive.STOP
    assert directive_for(replace(BOUND, power=Power.STOPPED), status()) is Directive.STOP
    assert directive_for(replace(BOUND, power=Power.DELETED), status()) is Directive.ABSENT
    paused = replace(BOUND, power=Power.PAUSED)
    assert directive_for(paused, status(Observed.RUNNING, ran=True)) is Directive.PAUSE
    assert directive_for(BOUND, status(Observed.PAUSED, ran=True)) is Directive.RUN


def test_only_an_activating_instance_may_start() -> None:
    starts = [(p, seen, ran) for p, seen, ran in itertools.product(Power, SEEN, (False, True))
              if may_start(replace(BOUND, power=p), status(seen, ran=ran))]
    assert all(not ran and seen in ("", Observed.ABSENT) for _p, seen, ran in starts)
    assert (Power.RUNNING, "", False) in starts
    assert not may_start(SPEC, status())  # unbound


def test_derived_changes_of_one_observation_are_allowed_transitions() -> None:
    """Whatever an agent reports next, the change of the derived state is in the table
    (for the power states users can ask today; suspend comes with its API)."""
    asked = (Power.RUNNING, Power.PAUSED, Power.STOPPED, Power.DELETED)
    for power, seen, ran, nxt in itertools.product(asked, SEEN, (False, True), SEEN[1:]):
        spec, before = replace(BOUND, power=power), status(seen, ran=ran)
        if seen:
            before = observed_status(replace(before, observed=""), Observed(seen))
        if power is Power.PAUSED and not before.ran:
            continue  # unreachable: pause is asked only of a Running instance
        if Observed.SUSPENDED in (seen, nxt):
            continue  # said only when told to suspend (below, in the suspend tests)
        old = base_state(spec, before)
        new = base_state(spec, observed_status(before, Observed(nxt)))
        # a shutdown asked before the VM ever ran, whose start was still in flight: the
        # VM that then shows up is stopped (Exited -> ShuttingDown -> Exited)
        late_start = (old, new) == (S.EXITED, S.SHUTTING_DOWN) and not before.ran
        # a failed start is unbound by the manager at once (Held, off any host)
        if old is not new and not late_start and old is not S.HELD:
            assert new in TRANSITIONS[old], (power, seen, ran, nxt, old, new)


def test_an_ended_vm_stays_exited() -> None:
    ended = observed_status(status(Observed.RUNNING, ran=True), Observed.STOPPED)
    assert base_state(BOUND, observed_status(ended, Observed.RUNNING)) is S.EXITED
    gone = observed_status(status(Observed.RUNNING, ran=True), Observed.ABSENT)
    assert base_state(BOUND, gone) is S.EXITED
    never = observed_status(status(), Observed.ABSENT)
    assert base_state(BOUND, never) is S.ACTIVATING


def test_a_change_of_power_is_an_allowed_transition() -> None:
    """Pause and unpause, asked in the states they start from, move the derived state
    along the table (Running -> Pausing -> Paused -> Unpausing -> Running)."""
    seen = {Observed.RUNNING: S.RUNNING, Observed.PAUSED: S.PAUSED}
    for observed, state in seen.items():
        st = status(observed, ran=True)
        for power in (Power.RUNNING, Power.PAUSED, Power.STOPPED, Power.DELETED):
            new = base_state(replace(BOUND, power=power), st)
            assert new is state or new in TRANSITIONS[state], (observed, power, new)


@pytest.mark.parametrize(("power", "host", "observed", "ran", "saved", "expected"), [
    (Power.SUSPENDED, "h1", Observed.RUNNING, True, False, S.SUSPENDING),
    (Power.SUSPENDED, "h1", Observed.PAUSED, True, False, S.SUSPENDING),
    (Power.SUSPENDED, "h1", Observed.SUSPENDED, True, True, S.SUSPENDED),  # unbound next
    (Power.SUSPENDED, None, "", False, True, S.SUSPENDED),
    (Power.RUNNING, None, "", False, True, S.RESUMING),  # waits for the scheduler
    (Power.RUNNING, "h2", "", False, True, S.RESUMING),  # its new host restores it
    (Power.RUNNING, "h2", Observed.ABSENT, False, True, S.RESUMING),
    (Power.RUNNING, "h2", Observed.FAILED, False, True, S.SUSPENDED),  # unbound next
    (Power.RUNNING, "h2", Observed.RUNNING, True, False, S.RUNNING),
    (Power.DELETED, None, "", False, True, S.DESTROYING),
])
def test_suspend_and_resume_states(power: Power, host: str | None, observed: str, ran: bool,
                                   saved: bool, expected: S) -> None:
    st = InstanceStatus(observed=observed, ran=ran, saved=saved)
    assert base_state(replace(SPEC, power=power, host=host), st) is expected


def test_suspend_directives_and_starts() -> None:
    suspending = replace(BOUND, power=Power.SUSPENDED)
    assert directive_for(suspending, status(Observed.RUNNING, ran=True)) is Directive.SUSPEND
    resuming = InstanceStatus(saved=True)
    assert may_start(BOUND, resuming)  # restored on its new host
    assert not may_start(SPEC, resuming)  # not before it is placed
    assert not may_start(suspending, InstanceStatus(observed=Observed.SUSPENDED, saved=True))


def test_a_resumed_vm_seen_running_is_no_longer_saved() -> None:
    saved = observed_status(InstanceStatus(), Observed.SUSPENDED)
    assert saved.saved
    assert observed_status(saved, Observed.ABSENT).saved  # not restored yet
    assert not observed_status(saved, Observed.RUNNING).saved


def test_suspend_observations_move_along_the_table() -> None:
    """From Suspending, whatever the agent reports next is an allowed change; so is
    every step of a resume on its new host."""
    spec = replace(BOUND, power=Power.SUSPENDED)
    for seen, nxt in itertools.product((Observed.RUNNING, Observed.PAUSED), SEEN[1:]):
        before = status(seen, ran=True)
        old = base_state(spec, before)
        new = base_state(spec, observed_status(before, Observed(nxt)))
        assert old is S.SUSPENDING
        assert new is old or new in TRANSITIONS[old], (seen, nxt, new)
    resuming = InstanceStatus(saved=True)
    for nxt in SEEN[1:]:
        new = base_state(BOUND, observed_status(resuming, Observed(nxt)))
        assert new is S.RESUMING or new in TRANSITIONS[S.RESUMING], (nxt, new)
