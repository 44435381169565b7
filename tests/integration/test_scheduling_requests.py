"""What an instance asks of its host, end to end: API -> spec -> snapshot -> scheduler."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import InstanceCreate
from tashi.cmd.cli import main
from tashi.domain.errors import Conflict, InvalidInput
from tests.integration.conftest import Rig


def vm(name: str, **kw: object) -> InstanceCreate:
    return InstanceCreate.model_validate({"name": name, "image": "guest", **kw})


async def test_target_host_is_taken_even_when_spread_would_not(scheduled: Rig) -> None:
    await scheduled.add_host("big", FakeDriver(cores=8, memory_mib=16384))
    await scheduled.add_host("small")
    inst = await scheduled.admin.create_instance(vm("pinned", host="small"))
    assert (inst.target_host, inst.allow_elsewhere) == ("small", False)
    assert (await scheduled.wait_for("pinned", "Running")).host == "small"
    await scheduled.admin.create_instance(vm("free"))
    assert (await scheduled.wait_for("free", "Running")).host == "big"


async def test_full_target_host_waits_unless_allowed_elsewhere(scheduled: Rig) -> None:
    await scheduled.add_host("h1", FakeDriver(cores=2, memory_mib=1024))
    await scheduled.add_host("h2")
    await scheduled.admin.create_instance(vm("filler", host="h1", memory_mib=1024))
    await scheduled.wait_for("filler", "Running")
    await scheduled.admin.create_instance(vm("stuck", host="h1"))
    await scheduled.wait_pending("stuck", "lack memory")
    moved = await scheduled.admin.create_instance(vm("moved", host="h1", allow_elsewhere=True))
    assert (await scheduled.wait_for(moved.id, "Running")).host == "h2"
    events = [e.message for e in await scheduled.admin.events("moved")]
    assert any("requested host h1 does not fit" in m for m in events), events


async def test_target_host_must_exist_and_allow_elsewhere_needs_one(rig: Rig) -> None:
    with pytest.raises(InvalidInput, match="unknown host 'nowhere'"):
        await rig.admin.create_instance(vm("x", host="nowhere"))
    with pytest.raises(InvalidInput, match="allow-elsewhere goes with a target host"):
        await rig.admin.create_instance(vm("x", allow_elsewhere=True))
    assert await rig.admin.list_instances() == []


async def test_anti_affinity_spreads_a_group_and_waits_for_a_free_host(scheduled: Rig) -> None:
    for h in ("h1", "h2", "h3"):
        await scheduled.add_host(h)
    made = await scheduled.admin.create_instances(vm("web", count=3, anti_affinity=True,
                                                     memory_mib=256))
    assert [(i.name, i.group, i.anti_affinity) for i in made] == [
        ("web-1", "web", True), ("web-2", "web", True), ("web-3", "web", True)]
    hosts = {(await scheduled.wait_for(i.id, "Running")).host for i in made}
    assert hosts == {"h1", "h2", "h3"}
    await scheduled.admin.create_instance(vm("web-4", group="web", anti_affinity=True))
    await scheduled.wait_pending("web-4", "already hold a member of group admin/web")
    freed = (await scheduled.admin.get_instance("web-2")).host
    await scheduled.admin.destroy_instance("web-2")
    assert (await scheduled.wait_for("web-4", "Running")).host == freed


async def test_groups_are_per_owner(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    alice = scheduled.client((await scheduled.admin.add_user("alice", "user")).token)
    await scheduled.admin.create_instance(vm("a", group="db", anti_affinity=True))
    await alice.create_instance(vm("b", group="db", anti_affinity=True))
    await scheduled.wait_for("a", "Running")
    assert (await scheduled.wait_for("b", "Running", client=alice)).host == "h1"


async def test_count_creates_all_or_nothing(rig: Rig) -> None:
    made = await rig.admin.create_instances(vm("batch", count=3, disk_gib=5))
    assert [i.name for i in made] == ["batch-1", "batch-2", "batch-3"]
    assert {i.disk_gib for i in made} == {5}
    assert len({i.nics[0].mac for i in made}) == 3
    await rig.admin.create_instance(vm("dup-2"))
    with pytest.raises(Conflict, match="'dup-2'"):
        await rig.admin.create_instances(vm("dup", count=3))
    names = sorted(i.name for i in await rig.admin.list_instances())
    assert names == ["batch-1", "batch-2", "batch-3", "dup-2"]
    with pytest.raises(InvalidInput, match="POST /instances/bulk"):
        await rig.admin.create_instance(vm("many", count=2))
    with pytest.raises(InvalidInput, match="persistent"):
        await rig.admin.create_instances(vm("p", count=2, persistent=True))


async def test_reserved_host_takes_only_its_users(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    alice = scheduled.client((await scheduled.admin.add_user("alice", "user")).token)
    bob = scheduled.client((await scheduled.admin.add_user("bob", "user")).token)
    host = await scheduled.admin.reserve_host("h1", ["alice"])
    assert host.reserved_for == ["alice"]
    await bob.create_instance(vm("bobs"))
    await scheduled.wait_pending("bobs", "reserved for alice")
    await alice.create_instance(vm("alices"))
    assert (await scheduled.wait_for("alices", "Running", client=alice)).host == "h1"
    assert (await scheduled.admin.reserve_host("h1", [])).reserved_for == []
    assert (await scheduled.wait_for("bobs", "Running", client=bob)).host == "h1"


async def test_vm_create_options_on_the_command_line(rig: Rig) -> None:
    await rig.add_host("h1")
    flags = ["--url", rig.url, "--token", rig.admin_token]
    args = ["vm", "create", "cli", "--image", "guest", "--count", "2", "--host", "h1",
            "--allow-elsewhere", "--group", "g", "--anti-affinity", "--disk", "3",
            "--disk", "size=2,bus=scsi,cache=none", "--disk", "image=guest"]
    result = await asyncio.to_thread(CliRunner().invoke, main, [*flags, *args])
    assert result.exit_code == 0, result.output
    assert [line.split()[1] for line in result.stdout.splitlines()[1:]] == ["cli-1", "cli-2"]
    shown = await asyncio.to_thread(CliRunner().invoke, main, [*flags, "vm", "show", "cli-1"])
    assert "placement:" in shown.stdout
    assert "on host h1 or elsewhere, group g (anti-affinity)" in shown.stdout
    lines = {k.strip(): v.strip() for k, _, v in (line.partition(":")
                                                  for line in shown.stdout.splitlines())}
    assert lines["disks"] == ("guest, 3 GiB scratch, 2 GiB blank (scsi, cache none), "
                              "guest")
    assert lines["host disk"] == "5 GiB claimed"
    bad = await asyncio.to_thread(CliRunner().invoke, main, [
        *flags, "vm", "create", "x", "--image", "guest", "--disk", "size=2,scratch=3"])
    assert bad.exit_code != 0
    assert "disk 1: give exactly one of image=NAME, size=GiB or scratch=GiB" in bad.stderr
    bad = await asyncio.to_thread(CliRunner().invoke, main, [
        *flags, "vm", "create", "x", "--image", "guest", "--disk", "size=2,bus=floppy"])
    assert bad.exit_code == 2, bad.output
    assert "disks.0.bus" in bad.stderr


async def test_vm_show_says_why_an_instance_waits_in_numbers(scheduled: Rig) -> None:
    for name in ("s1", "s2", "s3"):
        await scheduled.add_host(name, FakeDriver(cores=8, memory_mib=1536))
    await scheduled.add_host("drained", FakeDriver(cores=8, memory_mib=65536))
    await scheduled.add_host("alices", FakeDriver(cores=8, memory_mib=65536))
    await scheduled.admin.set_host_state("drained", "Drained")
    await scheduled.admin.reserve_host("alices", ["alice"])
    await scheduled.admin.create_instance(vm("big", memory_mib=2048))
    await scheduled.wait_pending("big", "1 reserved for alice")
    flags = ["--url", scheduled.url, "--token", scheduled.admin_token]
    shown = await asyncio.to_thread(CliRunner().invoke, main, [*flags, "vm", "show", "big"])
    assert shown.exit_code == 0, shown.output
    why = next(line.split(None, 1)[1] for line in shown.stdout.splitlines()
               if line.startswith("message"))
    assert why == ("no host fits: 3 lack memory (need 2048 MiB, best has 1536), 1 drained, "
                   "1 reserved for alice")


async def test_a_persistent_disk_needs_its_image_to_itself(rig: Rig) -> None:
    """Through the API: overlays share the image; a writer waits for them to be gone,
    and while it lives no overlay may read the image."""
    reader = await rig.admin.create_instance(vm("reader"))
    with pytest.raises(Conflict, match=f"in use by instance {reader.id}: a persistent disk"):
        await rig.admin.create_instance(vm("writer", persistent=True))
    await rig.admin.destroy_instance(reader.id)  # Pending: gone at once
    writer = await rig.admin.create_instance(vm("writer", persistent=True))
    with pytest.raises(Conflict, match=f"being written by instance {writer.id}"):
        await rig.admin.create_instances(vm("readers", count=2))
    assert [i.name for i in await rig.admin.list_instances()] == ["writer"]
