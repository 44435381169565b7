"""The transition table and the rules that move instances through it."""

from __future__ import annotations

import pytest

from tashi.domain.errors import InvalidTransition
from tashi.domain.lifecycle import (
    _RULES,
    DELETE,
    Directive,
    Observed,
    directive_for,
    may_start,
    next_state,
)
from tashi.domain.states import TRANSITIONS, WANTS_PROCESS, InstanceState, check_transition

S = InstanceState


def test_every_state_has_a_row() -> None:
    assert set(TRANSITIONS) == set(InstanceState)


def test_vocabulary_keeps_tashi_names() -> None:
    assert {s.value for s in InstanceState} == {
        "Pending", "Activating", "Running", "Pausing", "Paused", "Unpausing", "Suspending",
        "Suspended", "Resuming", "MigratePrep", "MigrateTrans", "ShuttingDown", "Destroying",
        "Orphaned", "Held", "Exited"}


def test_every_state_is_reachable_from_pending() -> None:
    seen, todo = {S.PENDING}, [S.PENDING]
    while todo:
        for nxt in TRANSITIONS[todo.pop()]:
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == set(InstanceState)


def test_every_state_can_be_destroyed_and_destroying_is_final() -> None:
    for state in InstanceState:
        if state is not S.DESTROYING:
            assert S.DESTROYING in TRANSITIONS[state], state
    assert TRANSITIONS[S.DESTROYING] == frozenset()


@pytest.mark.parametrize(("old", "new"), [
    (S.PENDING, S.RUNNING), (S.EXITED, S.RUNNING), (S.HELD, S.RUNNING),
    (S.SUSPENDED, S.PAUSED), (S.DESTROYING, S.RUNNING), (S.RUNNING, S.PENDING),
])
def test_forbidden_transitions_raise_naming_the_instance(old: S, new: S) -> None:
    with pytest.raises(InvalidTransition, match=f"vm-7: cannot go from {old} to {new}"):
        check_transition(old, new, what="vm-7")


def test_observation_rules_only_use_allowed_transitions() -> None:
    for (state, _observed), target in _RULES.items():
        if target != DELETE:
            assert isinstance(target, InstanceState)
            assert target in TRANSITIONS[state], (state, target)


@pytest.mark.parametrize(("state", "observed", "expected"), [
    (S.ACTIVATING, Observed.RUNNING, S.RUNNING),
    (S.ACTIVATING, Observed.FAILED, S.HELD),
    (S.ACTIVATING, Observed.ABSENT, None),  # still starting
    (S.RUNNING, Observed.STOPPED, S.EXITED),
    (S.RUNNING, Observed.ABSENT, S.EXITED),
    (S.RUNNING, Observed.RUNNING, None),
    (S.SHUTTING_DOWN, Observed.RUNNING, None),  # waiting for the guest
    (S.SHUTTING_DOWN, Observed.STOPPED, S.EXITED),
    (S.ORPHANED, Observed.RUNNING, S.RUNNING),
    (S.DESTROYING, Observed.RUNNING, None),
    (S.DESTROYING, Observed.ABSENT, DELETE),
    (S.EXITED, Observed.STOPPED, None),
])
def test_next_state(state: S, observed: Observed, expected: object) -> None:
    assert next_state(state, observed) == expected


def test_directives() -> None:
    for state in WANTS_PROCESS:
        assert directive_for(state) is Directive.RUN
    assert directive_for(S.SHUTTING_DOWN) is Directive.STOP
    assert directive_for(S.EXITED) is Directive.STOP
    assert directive_for(S.DESTROYING) is Directive.ABSENT


def test_only_activating_may_start_a_process() -> None:
    assert [s for s in InstanceState if may_start(s)] == [S.ACTIVATING]
