"""Named API tokens: create, list, revoke, expire; each user sees only their own."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tashi.client import TashiClient
from tashi.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from tests.integration.conftest import Rig


async def user_client(rig: Rig, name: str) -> TashiClient:
    return rig.client((await rig.admin.add_user(name, "user")).token)


async def test_create_list_and_revoke(rig: Rig) -> None:
    alice = await user_client(rig, "alice")
    made = await alice.create_token("laptop", expires_in_s=30 * 86400)
    assert made.token.startswith("tashi_")
    assert made.expires_at is not None
    assert abs(made.expires_at - made.created_at - timedelta(days=30)) < timedelta(seconds=1)
    listed = await alice.list_tokens()
    assert [(t.name, t.user) for t in listed] == [("initial", "alice"), ("laptop", "alice")]
    assert "token" not in listed[1].model_dump()  # shown once, never listed
    with pytest.raises(Conflict, match="already has a token named laptop"):
        await alice.create_token("laptop")
    with pytest.raises(InvalidInput, match="invalid token name"):
        await alice.create_token("Not A Name")
    laptop = rig.client(made.token)
    assert (await laptop.whoami()).name == "alice"
    revoked = await alice.revoke_token(made.id)
    assert (revoked.id, revoked.name) == (made.id, "laptop")
    with pytest.raises(Unauthenticated):  # at once
        await laptop.whoami()
    with pytest.raises(NotFound):
        await alice.revoke_token(made.id)
    assert [t.name for t in await alice.list_tokens()] == ["initial"]


async def test_an_expired_token_is_refused(rig: Rig) -> None:
    alice = await user_client(rig, "alice")
    made = await alice.create_token("brief", expires_in_s=1)
    brief = rig.client(made.token)
    assert (await brief.whoami()).name == "alice"
    assert made.expires_at is not None
    await asyncio.sleep((made.expires_at - datetime.now(UTC)).total_seconds() + 0.05)
    with pytest.raises(Unauthenticated):
        await brief.whoami()
    assert [t.name for t in await alice.list_tokens()] == ["initial", "brief"]  # still listed


async def test_users_cannot_see_or_revoke_others_tokens(rig: Rig) -> None:
    alice = await user_client(rig, "alice")
    bob = await user_client(rig, "bob")
    bobs = await bob.create_token("phone")
    with pytest.raises(Forbidden, match="only its own tokens"):
        await alice.list_tokens("bob")
    assert [t.name for t in await alice.list_tokens("alice")] == ["initial"]
    with pytest.raises(NotFound, match=f"token {bobs.id} not found"):  # not even "forbidden"
        await alice.revoke_token(bobs.id)
    admin_token_id = (await rig.admin.list_tokens())[0].id
    with pytest.raises(NotFound):
        await alice.revoke_token(admin_token_id)
    assert (await rig.client(bobs.token).whoami()).name == "bob"
    assert [t.name for t in await rig.admin.list_tokens("bob")] == ["initial", "phone"]
    with pytest.raises(NotFound, match="user 'carol' not found"):
        await rig.admin.list_tokens("carol")
    await rig.admin.revoke_token(bobs.id)  # an admin may revoke anyone's
    with pytest.raises(Unauthenticated):
        await rig.client(bobs.token).whoami()


async def test_agents_have_no_tokens_here(rig: Rig) -> None:
    agent = rig.client((await rig.admin.add_host("h1")).token)
    with pytest.raises(Forbidden):
        await agent.list_tokens()
    with pytest.raises(Forbidden):
        await agent.create_token("mine")
