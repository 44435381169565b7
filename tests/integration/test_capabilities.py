"""Capabilities through the whole cluster: agents send them in heartbeats, the manager
keeps them per host and shows them, the API refuses what no host could run, and the
scheduler places on the hosts that offer what an instance needs."""

from __future__ import annotations

from tashi.agent.drivers.base import capabilities_of
from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import HeartbeatIn, InstanceCreate
from tashi.domain.capabilities import Ability
from tests.integration.conftest import Rig, raw_client


def vm(name: str, nic_model: str = "virtio") -> InstanceCreate:
    return InstanceCreate(name=name, image="guest", nic_model=nic_model)


async def test_the_heartbeat_carries_the_capabilities_and_the_manager_keeps_them(
        rig: Rig) -> None:
    driver = await rig.add_host("node1", FakeDriver(cores=8, memory_mib=8192,
                                                    nic_models=["virtio"]))
    shown = (await rig.admin.get_host("node1")).capabilities
    assert shown is not None
    assert (shown.hypervisor, shown.version, shown.nic_models) == ("fake", "simulation",
                                                                  ["virtio"])
    assert shown.network_kinds == ["user"]
    assert shown.abilities == ["console", "pause", "reboot", "suspend", "vnc"]
    kept = rig.core.store.get_host("node1").capabilities
    assert kept == await capabilities_of(driver)
    assert kept is not None
    assert kept.can(Ability.CONSOLE)
    listed = {h.name: h for h in await rig.admin.list_hosts()}
    assert listed["node1"].capabilities == shown


async def test_an_older_agent_without_capabilities_still_heartbeats(rig: Rig) -> None:
    await rig.add_host("node1")
    await rig.stop_agent("node1")
    old = rig.client(rig.tokens["node1"])
    await old.heartbeat("node1", HeartbeatIn(cores=4, memory_mib=4096, agent_version="0.0.9",
                                             hypervisor="qemu-tcg"))
    host = await rig.admin.get_host("node1")
    assert (host.cores, host.agent_version, host.capabilities) == (4, "0.0.9", None)
    assert rig.core.store.get_host("node1").capabilities is None
    made = await rig.admin.create_instance(vm("any", "e1000"))  # judged as built-in
    assert [n.model for n in made.nics] == ["e1000"]


async def test_the_api_refuses_a_nic_model_no_host_offers(rig: Rig) -> None:
    await rig.add_host("node1", FakeDriver(nic_models=["virtio"]))
    await rig.add_host("node2", FakeDriver(nic_models=["virtio"]))
    async with raw_client(base_url=rig.url,
                                 headers={"Authorization": f"Bearer {rig.admin_token}"}) as raw:
        resp = await raw.post("/api/v1/instances", json={"name": "e", "image": "guest",
                                                         "nic_model": "e1000"})
    assert resp.status_code == 400
    assert resp.json() == {
        "error": "invalid_input",
        "message": "no host could ever run it: no host offers NIC model e1000 (the hosts "
                   "offer NIC models virtio and network kinds user)"}
    assert await rig.admin.list_instances() == []  # nothing created, nothing Held later


async def test_the_scheduler_places_on_a_host_offering_the_nic_model(scheduled: Rig) -> None:
    await scheduled.add_host("narrow", FakeDriver(nic_models=["virtio"]))
    await scheduled.add_host("wide", FakeDriver(nic_models=["virtio", "e1000"]))
    for i in range(3):
        await scheduled.admin.create_instance(vm(f"e{i}", "e1000"))
    for i in range(3):
        assert (await scheduled.wait_for(f"e{i}", "Running")).host == "wide"
    await scheduled.admin.set_host_state("wide", "Drained")
    await scheduled.admin.create_instance(vm("waits", "e1000"))
    await scheduled.wait_pending("waits", "1 lack NIC model e1000", "1 drained")
