"""Images in their owner's namespace (issue 9 §4): private by default, public by admins
only; a bare name is the caller's own image, else the public one; another user's
private image is "not found". And the least memory an image boots with (§10)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tashi.agent.drivers.base import VmRequest
from tashi.agent.drivers.fake import FakeDriver
from tashi.api.schemas import BindIn, InstanceCreate
from tashi.client import TashiClient
from tashi.common.secrets import hash_token, new_token
from tashi.domain.errors import Forbidden, InvalidInput, NotFound
from tashi.domain.states import Role
from tests.integration.conftest import Rig, raw_client

DISK = b"\0" * 4096


async def chunks(data: bytes = DISK) -> AsyncIterator[bytes]:
    yield data


def user(rig: Rig, name: str) -> TashiClient:
    rig.core.store.create_user(name, Role.USER)
    token = new_token()
    rig.core.store.add_token(hash_token(token), "t", user=name)
    rig.tokens[name] = token
    return rig.client(token)


async def delete(rig: Rig, who: str, ref: str) -> httpx.Response:
    async with raw_client(base_url=f"{rig.url}/api/v1") as raw:
        return await raw.delete(f"/images/{ref}",
                                headers={"Authorization": f"Bearer {rig.tokens[who]}"})


@pytest.fixture
def alice(rig: Rig) -> TashiClient:
    return user(rig, "alice")


@pytest.fixture
def bob(rig: Rig) -> TashiClient:
    return user(rig, "bob")


async def test_a_users_image_is_private_to_them(rig: Rig, alice: TashiClient,
                                                bob: TashiClient) -> None:
    made = await alice.upload_image("debian-12", chunks())
    assert (made.name, made.owner, made.visibility) == ("alice/debian-12", "alice", "private")
    assert (rig.image_dir / "alice" / "debian-12").read_bytes() == DISK
    assert (await alice.get_image("debian-12")).name == "alice/debian-12"
    assert (await alice.get_image("alice/debian-12")).name == "alice/debian-12"
    assert "alice/debian-12" not in [i.name for i in await bob.list_images()]
    for ref in ("debian-12", "alice/debian-12"):
        with pytest.raises(NotFound, match="not found"):  # not "forbidden": nothing leaks
            await bob.get_image(ref)
    with pytest.raises(InvalidInput, match="unknown image 'alice/debian-12'"):
        await bob.create_instance(InstanceCreate(name="borrowed", image="alice/debian-12"))
    with pytest.raises(NotFound):
        await rig.admin.get_image("debian-12")  # a bare name: the admin's own, then public
    assert (await rig.admin.get_image("alice/debian-12")).owner == "alice"  # by full name
    assert "alice/debian-12" in [i.name for i in await rig.admin.list_images()]
    assert (await delete(rig, "bob", "alice/debian-12")).status_code == 404
    assert (await delete(rig, "bob", "debian-12")).status_code == 404
    assert (await delete(rig, "alice", "debian-12")).status_code == 204
    assert not (rig.image_dir / "alice" / "debian-12").exists()


async def test_a_bare_name_is_ones_own_image_then_the_public_one(
        rig: Rig, alice: TashiClient, bob: TashiClient) -> None:
    await alice.upload_image("debian-12", chunks())  # claimed before the operator
    public = await rig.admin.upload_image("debian-12", chunks(), public=True)
    assert (public.name, public.visibility) == ("admin/debian-12", "public")
    bobs = await bob.create_instance(InstanceCreate(name="web", image="debian-12"))
    alices = await alice.create_instance(InstanceCreate(name="web", image="debian-12"))
    assert [d.image for d in bobs.disks] == ["admin/debian-12"]  # never alice's
    assert [d.image for d in alices.disks] == ["alice/debian-12"]  # her own first
    listed = {i.name: i.visibility for i in await bob.list_images()}
    assert listed == {"guest": "public", "admin/debian-12": "public"}


async def test_only_admins_make_images_public(rig: Rig, alice: TashiClient) -> None:
    with pytest.raises(Forbidden, match="may not make images public"):
        await alice.upload_image("debian-12", chunks(), public=True)
    assert [i.name for i in await rig.admin.list_images()] == ["guest"]
    assert not (rig.image_dir / "alice").exists()


async def test_a_bare_name_two_public_images_share_is_refused_with_both_named(
        rig: Rig, bob: TashiClient) -> None:
    rig.core.store.create_user("ops", Role.ADMIN)
    token = new_token()
    rig.core.store.add_token(hash_token(token), "t", user="ops")
    await rig.admin.upload_image("base", chunks(), public=True)
    await rig.client(token).upload_image("base", chunks(), public=True)
    with pytest.raises(InvalidInput, match=r"fits several public images \(admin/base, "
                                           r"ops/base\): name one as OWNER/NAME"):
        await bob.create_instance(InstanceCreate(name="x", image="base"))
    made = await bob.create_instance(InstanceCreate(name="x", image="ops/base"))
    assert [d.image for d in made.disks] == ["ops/base"]


async def test_an_instance_boots_from_its_owners_image_file(rig: Rig,
                                                           alice: TashiClient) -> None:
    asked: list[VmRequest] = []

    def note(request: VmRequest) -> None:
        asked.append(request)  # and refuse nothing

    await rig.add_host("h1", FakeDriver(fail_start=note))
    await alice.upload_image("tiny", chunks())
    inst = await alice.create_instance(InstanceCreate(name="vm", image="tiny"))
    await rig.admin.bind(inst.id, BindIn(host="h1", generation=inst.generation))
    await rig.wait_for(inst.id, "Running", client=alice)
    assert [d.image_path for d in asked[0].disks] == [rig.image_dir / "alice" / "tiny"]


async def test_error_messages_to_users_carry_no_host_paths(rig: Rig,
                                                           alice: TashiClient) -> None:
    junk = b"QFI\xfb\0\0\0\3junk"  # a broken qcow2: qemu-img names the file it read
    with pytest.raises(InvalidInput) as refused:
        await alice.upload_image("broken", chunks(junk))
    said = refused.value.message
    assert "'broken' is not a readable disk image" in said
    assert str(rig.image_dir) not in said, said
    assert ".upload-" not in said, said
    where = f"{rig.image_dir}/guest"
    await rig.add_host("h1", FakeDriver(
        fail_start=lambda r: f"qemu: could not open {where}: /var/lib/tashi/vm-1/qemu.log"))
    inst = await alice.create_instance(InstanceCreate(name="vm", image="guest"))
    await rig.admin.bind(inst.id, BindIn(host="h1", generation=inst.generation))
    shown = await rig.wait_for(inst.id, "Held", "Pending", client=alice)
    told = " ".join([shown.message, *(f.reason for f in shown.failures),
                     *(e.message for e in await alice.events(inst.id))])
    assert "could not open <host path>: <host path>" in told, told
    assert str(rig.image_dir) not in told, told
    assert "/var/lib" not in told, told


# --- the least memory an image boots with (§10) -------------------------------------------

async def test_an_instance_smaller_than_its_images_minimum_is_refused(
        rig: Rig, alice: TashiClient) -> None:
    image = await rig.admin.upload_image("tashi-guest", chunks(), public=True,
                                         min_memory_mib=96)
    assert image.min_memory_mib == 96
    with pytest.raises(InvalidInput, match=r"image 'tashi-guest' needs at least 96 MiB of "
                                           r"memory to boot .* not 64: ask for --memory 96"):
        await alice.create_instance(InstanceCreate(name="small", image="tashi-guest",
                                                   memory_mib=64))
    assert await alice.list_instances() == []
    made = await alice.create_instance(InstanceCreate(name="enough", image="tashi-guest",
                                                      memory_mib=96))
    assert made.memory_mib == 96
    mine = await alice.upload_image("no-minimum", chunks())
    assert mine.min_memory_mib == 0  # not known: anything allowed goes
    await alice.create_instance(InstanceCreate(name="tiny", image="no-minimum", memory_mib=16))
