"""The transition table (derivation itself: tests/unit/test_derive.py)."""

from __future__ import annotations

import pytest

from tashi.domain.errors import InvalidTransition
from tashi.domain.states import TRANSITIONS, InstanceState, check_transition

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
