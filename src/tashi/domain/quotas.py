"""Quotas: per-user limits on what a user's instances may ask of the cluster. Pure.

An admin sets a user's limits (:class:`QuotaLimits`: instances, cores, memory in MiB,
blank and scratch disk in GiB, physical machines); a limit left unset is no limit.
The store checks them (:func:`check`) inside the transaction that makes an instance
count, so that concurrent requests cannot together go past a limit.

**What counts as use** (:func:`charge`): each instance of the user, with its cores,
memory and disk (:attr:`~tashi.domain.models.InstanceSpec.disk_gib`: its blank and
scratch disks, the host disk it claims) and 1 instance, in every state but three:

- *Exited*: its VM ended for good (an Exited instance is never started again; only
  destroy follows): it holds no host resource and never will; its record is all
  that is left.
- *Suspended*: its VM is saved to disk, it is bound to no host and claims nothing.
  Resuming it makes it count again, so a resume is checked as a create is.
- *Destroying*: given up for good; its host frees its room as soon as its agent has
  killed the VM, and it can never come back. Counting it would make a user wait on
  the agent before creating the replacement.

Pending and Held instances count: they hold nothing yet, but are wanted and placed
as soon as a host has room; not counting them would let a burst of creates overshoot.
So the only ways into counting are a create (Pending) and a resume (Suspended ->
Resuming), and those are the two writes checked. Observations never are: an agent's
report cannot make an instance count, and is never refused.

Machines (physical, behind a BMC) do not exist yet: their limit is kept, shown and
checked, and every user uses 0 of them.

A limit lowered below what a user uses is kept: nothing is taken away, only new asks
are refused (``quota: alice may use 8 cores, uses 10, asks 2``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from enum import StrEnum

from tashi.domain.errors import Forbidden, InvalidInput
from tashi.domain.models import InstanceSpec
from tashi.domain.states import InstanceState

S = InstanceState
MAX_LIMIT = 2**31 - 1  # a limit fits a 32-bit column of every store


class QuotaField(StrEnum):
    """What a quota limits; the values are the wire's and the store's names."""

    INSTANCES = "instances"
    CORES = "cores"
    MEMORY_MIB = "memory_mib"
    DISK_GIB = "disk_gib"
    MACHINES = "machines"


#: The states in which an instance counts against its owner's quota (see above).
COUNTED: frozenset[InstanceState] = frozenset(S) - {S.EXITED, S.SUSPENDED, S.DESTROYING}

_WORDS = {QuotaField.INSTANCES: ("instance", "instances"), QuotaField.CORES: ("core", "cores"),
          QuotaField.MEMORY_MIB: ("MiB of memory",) * 2,
          QuotaField.DISK_GIB: ("GiB of disk",) * 2,
          QuotaField.MACHINES: ("machine", "machines")}


@dataclass(frozen=True, slots=True)
class QuotaUse:
    """What a user uses (or asks for), in each field's unit."""

    instances: int = 0
    cores: int = 0
    memory_mib: int = 0
    disk_gib: int = 0
    machines: int = 0

    def of(self, field: QuotaField) -> int:
        value: int = getattr(self, field.value)
        return value

    def plus(self, other: QuotaUse) -> QuotaUse:
        return QuotaUse(*(self.of(f) + other.of(f) for f in QuotaField))


NOTHING = QuotaUse()


def charge(state: InstanceState, spec: InstanceSpec) -> QuotaUse:
    """What one instance in ``state`` counts against its owner's quota."""
    if state not in COUNTED:
        return NOTHING
    return QuotaUse(instances=1, cores=spec.cores, memory_mib=spec.memory_mib,
                    disk_gib=spec.disk_gib)


def asked(specs: Iterable[InstanceSpec]) -> QuotaUse:
    """What creating (or resuming) instances of ``specs`` asks for."""
    total = NOTHING
    for spec in specs:
        total = total.plus(charge(S.PENDING, spec))
    return total


def use_of(instances: Iterable[tuple[InstanceState, InstanceSpec]]) -> QuotaUse:
    """What instances (their state and spec) of one user use."""
    total = NOTHING
    for state, spec in instances:
        total = total.plus(charge(state, spec))
    return total


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """A user's limits, each a whole number >= 0 or None (no limit)."""

    instances: int | None = None
    cores: int | None = None
    memory_mib: int | None = None
    disk_gib: int | None = None
    machines: int | None = None

    def of(self, field: QuotaField) -> int | None:
        value: int | None = getattr(self, field.value)
        return value

    @property
    def unlimited(self) -> bool:
        return all(self.of(f) is None for f in QuotaField)

    def changed(self, changes: Mapping[QuotaField, int | None]) -> QuotaLimits:
        """These limits with ``changes`` made (None: no limit), each checked."""
        return replace(self, **{f.value: check_limit(f, v) for f, v in changes.items()})


NO_LIMITS = QuotaLimits()


@dataclass(frozen=True, slots=True)
class Quota:
    """A user's limits and what the user uses now."""

    user: str
    limits: QuotaLimits
    use: QuotaUse


def check_limit(field: QuotaField, value: object) -> int | None:
    """``value`` as a limit of ``field``; InvalidInput unless a whole number from 0 to
    :data:`MAX_LIMIT`, or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_LIMIT:
        raise InvalidInput(f"quota {field.value}: a limit is a whole number from 0 to "
                           f"{MAX_LIMIT} (or none: no limit), not {value!r}")
    return value


def amount(field: QuotaField, n: int) -> str:
    """``8 cores``, ``1 instance``, ``4096 MiB of memory``."""
    one, many = _WORDS[field]
    return f"{n} {one if n == 1 else many}"


def refusal(user: str, limits: QuotaLimits, use: QuotaUse, ask: QuotaUse) -> str | None:
    """Why ``user``, using ``use``, may not have ``ask`` more (None: it may). A field the
    ask does not add to is never the reason, even if a lowered limit is passed already."""
    for field in QuotaField:
        limit, more = limits.of(field), ask.of(field)
        if limit is not None and more > 0 and use.of(field) + more > limit:
            return (f"quota: {user} may use {amount(field, limit)}, uses {use.of(field)}, "
                    f"asks {more}")
    return None


def check(user: str, limits: QuotaLimits, use: QuotaUse, ask: QuotaUse) -> None:
    """Raise Forbidden (403: a policy refusal) with :func:`refusal`'s reason, if any."""
    why = refusal(user, limits, use, ask)
    if why is not None:
        raise Forbidden(why)
