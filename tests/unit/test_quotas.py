"""The quota rule (``tashi.domain.quotas``): what counts, and the refusal's words."""

from __future__ import annotations

import pytest

from tashi.domain.errors import Forbidden, InvalidInput
from tashi.domain.models import DiskSpec, InstanceSpec
from tashi.domain.quotas import (
    NO_LIMITS,
    QuotaField,
    QuotaLimits,
    QuotaUse,
    asked,
    charge,
    check,
    check_limit,
    refusal,
    use_of,
)
from tashi.domain.states import InstanceState

S = InstanceState
SPEC = InstanceSpec(cores=2, memory_mib=512, nics=(), disks=(
    DiskSpec(image="guest"), DiskSpec(size_gib=3), DiskSpec(size_gib=4, scratch=True)))


def test_an_instance_counts_with_its_cores_memory_and_empty_disks() -> None:
    assert charge(S.RUNNING, SPEC) == QuotaUse(instances=1, cores=2, memory_mib=512,
                                               disk_gib=7, machines=0)


@pytest.mark.parametrize("state", [S.EXITED, S.SUSPENDED, S.DESTROYING])
def test_ended_saved_and_given_up_instances_count_nothing(state: InstanceState) -> None:
    assert charge(state, SPEC) == QuotaUse()


def test_every_other_state_counts_waiting_ones_too() -> None:
    for state in set(S) - {S.EXITED, S.SUSPENDED, S.DESTROYING}:
        assert charge(state, SPEC).instances == 1, state


def test_use_sums_the_counted_instances() -> None:
    use = use_of([(S.RUNNING, SPEC), (S.PENDING, SPEC), (S.EXITED, SPEC)])
    assert use == QuotaUse(instances=2, cores=4, memory_mib=1024, disk_gib=14)
    assert asked([SPEC] * 3) == QuotaUse(3, 6, 1536, 21, 0)


def test_the_refusal_names_the_limit_the_use_and_the_ask() -> None:
    limits = QuotaLimits(cores=8)
    assert refusal("alice", limits, QuotaUse(cores=6), QuotaUse(cores=2)) is None
    assert refusal("alice", limits, QuotaUse(cores=6), QuotaUse(cores=4)) == (
        "quota: alice may use 8 cores, uses 6, asks 4")
    with pytest.raises(Forbidden, match="quota: bob may use 1 instance, uses 1, asks 1"):
        check("bob", QuotaLimits(instances=1), QuotaUse(instances=1), QuotaUse(instances=1))
    assert refusal("a", QuotaLimits(memory_mib=1024), QuotaUse(), QuotaUse(memory_mib=2048)) \
        == "quota: a may use 1024 MiB of memory, uses 0, asks 2048"
    assert refusal("a", QuotaLimits(disk_gib=0), QuotaUse(), QuotaUse(disk_gib=1)) \
        == "quota: a may use 0 GiB of disk, uses 0, asks 1"


def test_a_limit_lowered_below_the_use_refuses_only_what_adds_to_it() -> None:
    limits = QuotaLimits(cores=4, machines=0)
    assert refusal("a", limits, QuotaUse(cores=10), QuotaUse(memory_mib=10)) is None
    assert refusal("a", limits, QuotaUse(cores=10), QuotaUse(cores=1)) == (
        "quota: a may use 4 cores, uses 10, asks 1")


def test_no_limit_refuses_nothing() -> None:
    assert NO_LIMITS.unlimited
    assert refusal("a", NO_LIMITS, QuotaUse(), QuotaUse(10**6, 10**6, 10**9, 10**6, 5)) is None


@pytest.mark.parametrize("bad", [-1, 1.5, "2", True, 2**31])
def test_a_limit_is_a_whole_number_from_zero(bad: object) -> None:
    with pytest.raises(InvalidInput, match="quota cores: a limit is a whole number from 0"):
        check_limit(QuotaField.CORES, bad)


def test_changes_keep_the_limits_they_do_not_name() -> None:
    limits = QuotaLimits(cores=8, memory_mib=4096)
    changed = limits.changed({QuotaField.CORES: None, QuotaField.INSTANCES: 3})
    assert changed == QuotaLimits(instances=3, memory_mib=4096)
    assert check_limit(QuotaField.MACHINES, 0) == 0
