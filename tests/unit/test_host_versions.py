"""The rule of :mod:`tashi.domain.versions`, case by case."""

from __future__ import annotations

import pytest

from tashi.domain.states import HostState
from tashi.domain.versions import version_state

N, D, V = HostState.NORMAL, HostState.DRAINED, HostState.VERSION_MISMATCH


@pytest.mark.parametrize(("state", "recorded", "reported", "after"), [
    (N, "", "1.0", None),  # the manager's version: nothing to do
    (V, "0.9", "1.0", N),  # upgraded to it
    (V, "1.0", "1.0", N),  # the manager upgraded to it
    (N, "", "0.9", V),  # a new agent of another version
    (N, "1.0", "0.9", V),  # downgraded
    (N, "0.9", "0.9", None),  # allowed by an admin: stays
    (D, "1.0", "0.9", None),  # drained stays drained
    (V, "0.8", "0.9", None),
])
def test_version_state(state: HostState, recorded: str, reported: str,
                       after: HostState | None) -> None:
    change = version_state(state, "1.0", recorded, reported)
    assert (change[0] if change else None) is after
    if change:
        assert reported in change[1]
