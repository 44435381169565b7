"""The user operations on an instance that change its wanted power state, what each
needs, and the words of the refusal when the instance is not there.

``cannot pause web: it is Suspended; pause needs Running`` — HTTP 409, from
:class:`~tashi.domain.errors.InvalidTransition`.
"""

from __future__ import annotations

from enum import StrEnum

from tashi.domain.capabilities import Ability
from tashi.domain.errors import InvalidTransition
from tashi.domain.states import InstanceState, Power

S = InstanceState


class Operation(StrEnum):
    PAUSE = "pause"
    UNPAUSE = "unpause"
    REBOOT = "reboot"  # keeps the power state: the VM restarts its guest
    SUSPEND = "suspend"  # its state saved to the suspend directory, its host's claim freed
    RESUME = "resume"  # placed again, started from its saved state


#: Operation -> the states it may start from, the power state it asks for, and the
#: optional driver protocol the host must have (the bound one; for a resume, the one
#: the scheduler places it on).
RULES: dict[Operation, tuple[frozenset[InstanceState], Power, Ability]] = {
    Operation.PAUSE: (frozenset({S.RUNNING, S.UNPAUSING}), Power.PAUSED, Ability.PAUSE),
    Operation.UNPAUSE: (frozenset({S.PAUSED, S.PAUSING}), Power.RUNNING, Ability.PAUSE),
    Operation.REBOOT: (frozenset({S.RUNNING}), Power.RUNNING, Ability.REBOOT),
    Operation.SUSPEND: (frozenset({S.RUNNING, S.PAUSED}), Power.SUSPENDED, Ability.SUSPEND),
    Operation.RESUME: (frozenset({S.SUSPENDED}), Power.RUNNING, Ability.SUSPEND),
}


def check_operation(op: Operation, name: str, state: InstanceState) -> Power:
    """The power state ``op`` asks for; InvalidTransition naming the state if the
    instance ``name`` is not in one ``op`` may start from."""
    allowed, power, _ = RULES[op]
    if state not in allowed:
        needs = " or ".join(s.value for s in S if s in allowed)  # in the enum's order
        raise InvalidTransition(f"cannot {op} {name}: it is {state}; {op} needs {needs}")
    return power


def ability_for(op: Operation) -> Ability:
    return RULES[op][2]
