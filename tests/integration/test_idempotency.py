"""Creates with an ``Idempotency-Key`` (issue 14): sent again after a lost answer, they
return what the first one made (not "name taken"); the key with another request is a
409; racing sends with one key make it once; the CLI sends a key and retries."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner
from sqlalchemy import select

from tashi.cmd.cli import main
from tashi.store.sql.store import SqlStore
from tashi.store.sql.tables import IdempotencyRow
from tests.integration.conftest import Rig, raw_client


async def test_a_create_sent_again_with_its_key_returns_what_it_made(rig: Rig) -> None:
    body = {"name": "once", "image": "guest"}
    async with raw_client(rig.url, headers={"Authorization": f"Bearer {rig.admin_token}"}) \
            as http:
        first = await http.post("/api/v1/instances", json=body,
                                headers={"Idempotency-Key": "k-1"})
        again = await http.post("/api/v1/instances", json=body,
                                headers={"Idempotency-Key": "k-1"})
        unkeyed = await http.post("/api/v1/instances", json=body)
        other = await http.post("/api/v1/instances", json={**body, "cores": 2},
                                headers={"Idempotency-Key": "k-1"})
        bad = await http.post("/api/v1/instances", json=body,
                              headers={"Idempotency-Key": "no spaces"})
        bulk = [await http.post("/api/v1/instances/bulk", json={"name": "many", "image": "guest",
                                                                 "count": 3},
                                headers={"Idempotency-Key": "k-2"}) for _ in range(2)]
    assert (first.status_code, again.status_code) == (201, 201), (first.text, again.text)
    assert again.json()["id"] == first.json()["id"]
    assert unkeyed.status_code == 409  # without a key: the name is taken, as before
    assert other.status_code == 409, other.text
    assert "was used for another request" in other.json()["message"]
    assert bad.status_code == 422, bad.text
    assert [b.status_code for b in bulk] == [201, 201]
    assert [i["id"] for i in bulk[0].json()] == [i["id"] for i in bulk[1].json()]
    names = sorted(i.name for i in await rig.admin.list_instances())
    assert names == ["many-1", "many-2", "many-3", "once"]


async def test_racing_sends_with_one_key_make_it_once(rig: Rig) -> None:
    body = {"name": "raced", "image": "guest"}
    async with raw_client(rig.url, headers={"Authorization": f"Bearer {rig.admin_token}"}) \
            as http:
        answers = await asyncio.gather(*(http.post(
            "/api/v1/instances", json=body, headers={"Idempotency-Key": "race"})
            for _ in range(6)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.json()["id"] for a in answers}) == 1
    assert [i.name for i in await rig.admin.list_instances()] == ["raced"]


async def test_the_cli_sends_a_key(rig: Rig) -> None:
    flags = ["--url", rig.url, "--token", rig.admin_token]
    result = await asyncio.to_thread(CliRunner().invoke, main,
                                     [*flags, "vm", "create", "cli", "--image", "guest"])
    assert result.exit_code == 0, result.output
    assert rig.core.store.list_instances(name="cli")
    store = rig.core.store
    assert isinstance(store, SqlStore)
    with store._read.begin() as s:  # the key it sent, kept with what it made
        keys = [(r.owner, r.instance_ids) for r in s.scalars(select(IdempotencyRow))]
    assert keys == [("admin", [i.id for i in store.list_instances(name="cli")])]
