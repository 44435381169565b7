"""Manager + scheduler + agents (fake driver) in one process, over real HTTP."""

from __future__ import annotations

import asyncio

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.domain.errors import Conflict, Forbidden, NotFound, Unauthenticated
from tests.integration.conftest import Rig, raw_client


def vm(name: str, **kw: object) -> InstanceCreate:
    return InstanceCreate.model_validate({"name": name, "image": "guest", **kw})


async def test_create_runs_then_graceful_shutdown_exits(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(vm("web"))
    assert inst.state == "Pending"
    running = await scheduled.wait_for("web", "Running")
    assert running.host == "h1"
    assert driver.starts == 1
    await scheduled.wait_console("web", "TASHI-GUEST-READY")
    await scheduled.admin.shutdown_instance("web")
    exited = await scheduled.wait_for("web", "Exited")
    assert exited.observed == "stopped"
    events = [e.message for e in await scheduled.admin.events("web")]
    assert any("Pending -> Activating" in m for m in events)
    assert any("Running -> ShuttingDown" in m for m in events)


async def test_destroy_running_removes_vm_and_record(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    await scheduled.admin.create_instance(vm("db"))
    await scheduled.wait_for("db", "Running")
    out = await scheduled.admin.destroy_instance("db")
    assert not out.deleted
    await scheduled.wait_gone("db")
    assert await driver.list_instances() == []


async def test_destroy_pending_is_immediate(rig: Rig) -> None:
    await rig.admin.create_instance(vm("later"))
    out = await rig.admin.destroy_instance("later")
    assert out.deleted
    with pytest.raises(NotFound):
        await rig.admin.get_instance("later")


async def test_spread_over_hosts(scheduled: Rig) -> None:
    for h in ("h1", "h2"):
        await scheduled.add_host(h)
    for i in range(4):
        await scheduled.admin.create_instance(vm(f"s{i}", memory_mib=512))
    hosts = [(await scheduled.wait_for(f"s{i}", "Running")).host for i in range(4)]
    assert sorted(str(h) for h in hosts) == ["h1", "h1", "h2", "h2"]


async def test_no_room_stays_pending_with_reason(scheduled: Rig) -> None:
    await scheduled.add_host("small")
    await scheduled.admin.create_instance(vm("huge", memory_mib=100_000))
    await scheduled.wait_pending("huge", "lack memory", "need 100000 MiB")


async def test_failed_start_is_held_with_reason(scheduled: Rig) -> None:
    from tashi.agent.drivers.fake import FakeDriver

    await scheduled.add_host("bad", FakeDriver(fail_start=lambda r: "disk on fire"))
    await scheduled.admin.create_instance(vm("unlucky"))
    held = await scheduled.wait_for("unlucky", "Held")
    assert "disk on fire" in held.message
    assert held.host is None


async def test_vm_exiting_on_its_own_is_reported_exited(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(vm("crashy"))
    await scheduled.wait_for("crashy", "Running")
    driver.crash(inst.id)
    exited = await scheduled.wait_for("crashy", "Exited")
    assert "exited" in exited.message or exited.observed == "stopped"


async def test_agent_restart_readopts_without_duplicate(scheduled: Rig) -> None:
    driver = await scheduled.add_host("h1")
    await scheduled.admin.create_instance(vm("keep"))
    await scheduled.wait_for("keep", "Running")
    await scheduled.stop_agent("h1")
    await scheduled.start_agent("h1")
    await asyncio.sleep(0.5)
    assert (await scheduled.admin.get_instance("keep")).state == "Running"
    assert driver.starts == 1


async def test_host_silence_orphans_then_recovers(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    await scheduled.admin.create_instance(vm("lonely"))
    await scheduled.wait_for("lonely", "Running")
    await scheduled.stop_agent("h1")
    orphan = await scheduled.wait_for("lonely", "Orphaned", timeout_s=5)
    assert "stopped heartbeating" in orphan.message
    await scheduled.start_agent("h1")
    await scheduled.wait_for("lonely", "Running", timeout_s=5)


async def test_users_see_only_their_instances(rig: Rig) -> None:
    alice = rig.client((await rig.admin.add_user("alice", "user")).token)
    bob = rig.client((await rig.admin.add_user("bob", "user")).token)
    await alice.create_instance(vm("mine"))
    await bob.create_instance(vm("mine"))  # same name, other owner: fine
    assert [i.owner for i in await alice.list_instances()] == ["alice"]
    assert len(await rig.admin.list_instances()) == 2
    alices = (await alice.get_instance("mine")).id
    with pytest.raises(NotFound):
        await bob.get_instance(alices)
    with pytest.raises(NotFound):
        await bob.destroy_instance(alices)
    with pytest.raises(Forbidden):
        await bob.list_hosts()
    with pytest.raises(Unauthenticated):
        await rig.client("tashi_wrong").list_instances()
    with pytest.raises(Unauthenticated):
        await rig.client(None).list_instances()


async def test_agent_credential_is_bound_to_its_host(rig: Rig) -> None:
    await rig.add_host("h1")
    await rig.add_host("h2")
    h1 = rig.client(rig.tokens["h1"])
    with pytest.raises(Forbidden):
        await h1.desired("h2", None, 0)
    with pytest.raises(Forbidden):
        await h1.list_instances()  # an agent is not a user


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"name": "x", "image": "nope"}, "unknown image 'nope'"),
        ({"name": "bad;name", "image": "guest"}, "invalid instance name 'bad;name'"),
        ({"name": "../up", "image": "guest"}, "invalid instance name '../up'"),
        ({"name": "x", "image": "../../etc/passwd"}, "invalid image name"),
        ({"name": "x", "image": "guest", "cores": 0}, "cores: Input should be greater"),
        ({"name": "x", "image": "guest", "memory_mib": 10**9}, "memory_mib: Input should be"),
        ({"name": "x", "image": "guest", "memory_mib": 0}, "memory_mib: Input should be"),
        ({"name": "x", "image": "guest", "cores": 10**6}, "cores: Input should be less"),
        ({"name": "x", "image": "guest", "cores": -1}, "cores: Input should be greater"),
        ({"name": "x", "image": "a/b/c"}, "invalid image name"),  # a/b: OWNER/NAME
        ({"name": "x", "image": "guest", "host": "ghost"}, "unknown host 'ghost'"),
        ({"name": "x", "image": "guest", "host": "../h"}, "invalid host name"),
        ({"name": "$(reboot)", "image": "guest"}, "invalid instance name"),
        ({"name": "x", "image": "guest", "count": 0}, "count: Input should be greater"),
        ({"name": "x", "image": "guest", "networks": ["nowhere"]}, "unknown network"),
    ],
)
async def test_bad_input_rejected_and_nothing_created(rig: Rig, body: dict[str, object],
                                                      says: str) -> None:
    """Raw requests, as any client could send them: the server is the one that checks."""
    async with raw_client(base_url=rig.url, headers={
            "Authorization": f"Bearer {rig.admin_token}"}) as raw:
        resp = await raw.post("/api/v1/instances", json=body)
    assert resp.status_code in (400, 422), resp.text
    assert resp.json()["error"] == "invalid_input"
    assert says in resp.json()["message"]
    assert "\n" not in resp.json()["message"]
    assert await rig.admin.list_instances() == []


async def test_duplicate_name_conflicts(rig: Rig) -> None:
    first = await rig.admin.create_instance(vm("twin"))
    with pytest.raises(Conflict, match="twin"):
        await rig.admin.create_instance(vm("twin"))
    assert [i.id for i in await rig.admin.list_instances()] == [first.id]


async def test_unknown_host_bind_is_not_found(rig: Rig) -> None:
    from tashi.api.schemas import BindIn

    inst = await rig.admin.create_instance(vm("floating"))
    with pytest.raises(NotFound):
        await rig.admin.bind(inst.id, BindIn(host="ghost", generation=inst.generation))
    assert (await rig.admin.get_instance(inst.id)).state == "Pending"


async def test_agent_auto_registers_with_join_token(tmp_path_factory: pytest.TempPathFactory
                                                    ) -> None:
    from tashi.agent.process import obtain_credential
    from tashi.agent.settings import AgentSettings
    from tests.integration.conftest import start_rig, stop_rig

    root = tmp_path_factory.mktemp("join")
    rig, server, serving = await start_rig(root, join_token="s3cret-join")
    try:
        settings = AgentSettings.model_validate({
            "manager_url": rig.url, "host": "newbie", "join_token": "s3cret-join",
            "state_dir": root / "agent", "driver": "fake"})
        token = await obtain_credential(settings)
        assert (root / "agent" / "credential").stat().st_mode & 0o777 == 0o600
        assert await obtain_credential(settings) == token  # saved, reused
        me = await rig.client(token).whoami()
        assert (me.kind, me.name) == ("agent", "newbie")
        assert [h.name for h in await rig.admin.list_hosts()] == ["newbie"]
        bad = AgentSettings.model_validate({
            "manager_url": rig.url, "host": "intruder", "join_token": "wrong",
            "state_dir": root / "intruder", "driver": "fake"})
        with pytest.raises(Forbidden):
            await obtain_credential(bad)
        assert [h.name for h in await rig.admin.list_hosts()] == ["newbie"]
    finally:
        await stop_rig(rig, server, serving)


async def test_join_refused_when_auto_registration_disabled(rig: Rig) -> None:
    with pytest.raises(Forbidden, match="auto registration is disabled"):
        await rig.client(None).join("h9", "anything")
