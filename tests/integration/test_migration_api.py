"""The migration API's refusals, on the fake driver (which cannot live-migrate): who may
ask, what is checked before anything changes, and the words of each refusal. The
migrations themselves run on real QEMU in tests/e2e/test_migration.py."""

from __future__ import annotations

import pytest

from tashi.api.schemas import InstanceCreate
from tashi.api.schemas.migration import MigrateIn
from tashi.domain.errors import Forbidden, InvalidTransition, NotFound
from tests.integration.conftest import Rig, raw_client


async def test_only_admins_migrate_and_only_what_can_move(scheduled: Rig) -> None:
    await scheduled.add_host("h1")
    await scheduled.add_host("h2")
    inst = await scheduled.admin.create_instance(InstanceCreate(name="web", image="guest",
                                                                host="h1"))
    await scheduled.wait_for(inst.id, "Running")
    bob = scheduled.client((await scheduled.admin.add_user("bob", "user")).token)
    with pytest.raises(Forbidden):
        await bob.migrate_instance("web", MigrateIn(to="h2"))
    with pytest.raises(Forbidden):
        await bob.abort_migration("web")
    with pytest.raises(InvalidTransition, match="host h1 cannot live-migrate"):
        await scheduled.admin.migrate_instance("web", MigrateIn(to="h2"))
    with pytest.raises(InvalidTransition, match="cannot abort the migration of web: it is "
                       "Running, not migrating"):
        await scheduled.admin.abort_migration("web")
    with pytest.raises(NotFound):
        await scheduled.admin.migrate_instance("nothing", MigrateIn())
    shown = await scheduled.admin.get_instance("web")
    assert (shown.state, shown.host, shown.migration) == ("Running", "h1", None)


@pytest.mark.parametrize("body", [
    {"to": "h2", "max_downtime_ms": 0},
    {"max_downtime_ms": "30"},
    {"bandwidth_mib_s": -1},
    {"postcopy": 1},
    {"timeout_s": 5},
    {"to": "Not A Host!"},
    {"unknown": True},
])
async def test_bad_bodies_are_422_with_the_reason(scheduled: Rig, body: dict[str, object]) -> None:
    await scheduled.add_host("h1")
    inst = await scheduled.admin.create_instance(InstanceCreate(name="web", image="guest"))
    async with raw_client(scheduled.url, headers={
            "authorization": f"Bearer {scheduled.admin_token}"}) as raw:
        resp = await raw.post(f"/api/v1/instances/{inst.id}/migrate", json=body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["message"], resp.text
