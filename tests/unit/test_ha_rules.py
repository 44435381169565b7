"""The HA rules: when a host's lease ran out, which instances restart, when an agent
pauses its own, and what it keeps of them across restarts."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tashi.agent.fencing import HaLeases
from tashi.domain.derive import Directive
from tashi.domain.desired import DesiredInstance
from tashi.domain.ha import fence_after_s, lease_expired, restartable
from tashi.domain.migration import MigrationSpec
from tashi.domain.models import Host, Instance, InstanceSpec, InstanceStatus
from tashi.domain.states import HostState, InstanceState, Power

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
HOST = Host(id=1, name="h1", state=HostState.NORMAL, cores=4, memory_mib=4096,
            last_heartbeat=T0, agent_version="1", registered_at=T0, silent=True)
SPEC = InstanceSpec(cores=1, memory_mib=128, disks=(), nics=(), host="h1", ha=True)
WEB = Instance(id=7, name="web", owner="ann", state=InstanceState.ORPHANED, spec=SPEC,
               status=InstanceStatus(), generation=3, created_at=T0, updated_at=T0)


def test_a_lease_runs_out_its_length_after_the_last_heartbeat_or_the_managers_start() -> None:
    assert not lease_expired(HOST, T0 + timedelta(seconds=29.9), 30, since=T0)
    assert lease_expired(HOST, T0 + timedelta(seconds=30), 30, since=T0)
    started = T0 + timedelta(seconds=20)  # a manager that started after the last beat
    assert not lease_expired(HOST, T0 + timedelta(seconds=45), 30, since=started)
    assert lease_expired(HOST, T0 + timedelta(seconds=50), 30, since=started)
    assert not lease_expired(replace(HOST, last_heartbeat=None), T0 + timedelta(days=1), 30,
                             since=T0)


def test_only_ha_instances_that_should_run_on_the_silent_host_restart() -> None:
    assert restartable(WEB, HOST)
    assert not restartable(replace(WEB, spec=replace(SPEC, ha=False)), HOST)
    assert not restartable(WEB, replace(HOST, silent=False))
    assert not restartable(WEB, replace(HOST, name="h2"))
    assert not restartable(replace(WEB, state=InstanceState.RUNNING), HOST)
    assert not restartable(replace(WEB, spec=replace(SPEC, power=Power.PAUSED)), HOST)
    moving = MigrationSpec(number=1, source="h1", target="h2")
    assert not restartable(replace(WEB, spec=replace(SPEC, migration=moving)), HOST)


def test_an_agent_pauses_before_the_manager_restarts() -> None:
    assert fence_after_s(30) == 25
    assert 0 < fence_after_s(1) < 1
    assert fence_after_s(3) == 2


def desired(instance_id: int, lease_s: float) -> DesiredInstance:
    return DesiredInstance(id=instance_id, name=f"vm{instance_id}", state=InstanceState.RUNNING,
                           directive=Directive.RUN, may_start=False, cores=1, memory_mib=128,
                           disks=(), nics=(), shutdown_timeout_s=60, generation=1,
                           ha_lease_s=lease_s)


def test_an_agent_keeps_its_ha_instances_across_restarts(tmp_path: Path) -> None:
    path = tmp_path / "ha.json"
    leases = HaLeases("h1", 100.0, path)
    leases.take([desired(1, 30), desired(2, 0), desired(3, 30)])
    assert leases.leases == {1: 30, 3: 30}
    assert path.stat().st_mode & 0o777 == 0o600
    again = HaLeases("h1", 500.0, path)  # restarted: what it knew, and the clock anew
    assert again.leases == {1: 30, 3: 30}
    assert again.due(524.9) == []
    assert again.due(525.0) == [1, 3]
    again.heard(520.0)
    assert again.due(525.0) == []
    again.heard(510.0)  # an answer to an older heartbeat does not set it back
    assert again.heard_at == 520.0


def test_an_unreadable_file_means_no_ha_instance_known(tmp_path: Path) -> None:
    path = tmp_path / "ha.json"
    path.write_text("{not json")
    assert HaLeases("h1", 0.0, path).leases == {}
