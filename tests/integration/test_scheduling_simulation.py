"""Simulated hosts (``tashi-agent simulate``): many fake agents in one process, joined
with the join token, labelled as simulation wherever they show."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from click.testing import CliRunner

from tashi.agent.simulation import Simulation, SimulationSettings
from tashi.api.schemas import InstanceCreate
from tashi.cmd.agent import main as agent_main
from tashi.cmd.cli import main
from tashi.domain.models import ImageFormat, Visibility
from tashi.scheduler.service import Scheduler
from tashi.store.base import NewImage
from tests.integration.conftest import start_rig, stop_rig


async def test_simulated_hosts_join_show_as_simulation_and_run_instances(
        tmp_path: Path) -> None:
    rig, server, serving = await start_rig(tmp_path, heartbeat_timeout_s=2.0,
                                           join_token="sim-join")
    rig.core.store.create_image(NewImage("guest", "admin", ImageFormat.RAW, 1024, 1024,
                                         visibility=Visibility.PUBLIC))
    sim = Simulation(SimulationSettings(manager_url=rig.url, join_token="sim-join", hosts=5,
                                        prefix="sim-", cores=4, memory_mib=4096,
                                        heartbeat_interval_s=0.3, poll_wait_s=5))
    running = asyncio.create_task(sim.run())
    try:
        deadline = asyncio.get_running_loop().time() + 10
        while sum(h.up for h in await rig.admin.list_hosts()) < 5:
            assert asyncio.get_running_loop().time() < deadline
            await asyncio.sleep(0.05)
        hosts = await rig.admin.list_hosts()
        assert sorted(h.name for h in hosts) == [f"sim-{i}" for i in range(1, 6)]
        assert {(h.hypervisor, h.cores, h.memory_mib) for h in hosts} == {
            ("fake (simulation)", 4, 4096)}
        flags = ["--url", rig.url, "--token", rig.admin_token]
        listed = await asyncio.to_thread(CliRunner().invoke, main, [*flags, "host", "list"])
        assert sum("fake (simulation)" in line for line in listed.stdout.splitlines()) == 5
        scheduler = asyncio.create_task(Scheduler(rig.client(rig.admin_token)).run())
        try:
            made = await rig.admin.create_instances(InstanceCreate(
                name="sim-vm", image="guest", count=10, memory_mib=1024))
            placed = [await rig.wait_for(i.id, "Running") for i in made]
            assert {i.host for i in placed} == {f"sim-{i}" for i in range(1, 6)}
            assert "simulated VM sim-vm-1" in await rig.admin.console("sim-vm-1")
        finally:
            scheduler.cancel()
            await asyncio.gather(scheduler, return_exceptions=True)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await stop_rig(rig, server, serving)
    assert sum(d.starts for d in sim.drivers.values()) == 10


@pytest.mark.parametrize(("args", "says"), [
    (["--hosts", "0"], "0 is not in the range"),
    (["--hosts", "2", "--prefix", "Bad_", "--manager-url", "http://x"],
     "invalid host name 'Bad_2'"),
    (["--hosts", "2"], "Missing option '--manager-url'"),
])
def test_simulate_checks_its_options(args: list[str], says: str) -> None:
    result = CliRunner().invoke(agent_main, ["simulate", *args, "--join-token", "t"],
                                env={"TASHI_AGENT_MANAGER_URL": None})
    assert result.exit_code == 2
    assert says in result.output
