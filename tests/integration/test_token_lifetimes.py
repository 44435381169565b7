"""A token made with a token never outlives it, and admins may restrict token creation
to password logins (issue 9 §2)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from tashi.common.passwords import hash_password
from tashi.common.secrets import hash_token, new_token
from tashi.domain.errors import Forbidden, Unauthenticated
from tashi.domain.states import Role
from tests.integration.conftest import Rig, raw_client

PASSWORD = "alice's long password"


def expiring_token(rig: Rig, user: str, seconds: float) -> tuple[str, datetime]:
    """A token of ``user`` that expires ``seconds`` from now (and when)."""
    token, at = new_token(), datetime.now(UTC) + timedelta(seconds=seconds)
    rig.core.store.add_token(hash_token(token), f"short-{seconds}", user=user, expires_at=at)
    return token, at


@pytest.fixture
def alice(rig: Rig) -> str:
    rig.core.store.create_user("alice", Role.USER)
    rig.core.store.set_password_hash("alice", hash_password(PASSWORD))
    return "alice"


async def test_a_token_made_with_an_expiring_token_expires_with_it(rig: Rig,
                                                                   alice: str) -> None:
    parent, parent_expiry = expiring_token(rig, alice, 2.5)
    client = rig.client(parent)
    forever = await client.create_token("asked-forever")  # no expiry asked
    later = await client.create_token("asked-later", expires_in_s=3600)
    sooner = await client.create_token("asked-sooner", expires_in_s=1)
    assert forever.expires_at == later.expires_at == parent_expiry  # clamped, said so
    assert sooner.expires_at is not None
    assert sooner.expires_at < parent_expiry
    child = rig.client(forever.token)
    assert (await child.whoami()).name == alice
    grandchild = await child.create_token("grandchild")
    assert grandchild.expires_at == parent_expiry
    await asyncio.sleep((parent_expiry - datetime.now(UTC)).total_seconds() + 0.1)
    for token in (parent, forever.token, later.token, grandchild.token):
        with pytest.raises(Unauthenticated):
            await rig.client(token).whoami()
    events = [e.message for e in await rig.admin.list_events(user=alice)]
    assert any("asked-forever created, expiring at" in m
               and "(the expiry of the token that made it)" in m for m in events), events


async def test_a_token_that_never_expires_and_a_password_login_are_not_clamped(
        rig: Rig, alice: str) -> None:
    login = await rig.client(None).login(alice, PASSWORD)  # expiry as asked: none
    assert login.expires_at is None
    made = await rig.client(login.token).create_token("laptop")
    assert made.expires_at is None


async def test_admins_may_restrict_token_creation_to_password_logins(rig: Rig,
                                                                     alice: str) -> None:
    login = await rig.client(None).login(alice, PASSWORD)
    user = rig.client(login.token)
    assert (await user.token_settings()).password_login_only is False
    with pytest.raises(Forbidden, match="not an admin"):
        await user.set_token_settings(password_login_only=True)
    assert (await rig.admin.set_token_settings(password_login_only=True)).password_login_only
    assert (await user.token_settings()).password_login_only is True
    for caller in (user, rig.admin):
        with pytest.raises(Forbidden, match="tokens are made by password logins only"):
            await caller.create_token("refused")
    again = await rig.client(None).login(alice, PASSWORD, expires_in_s=60)  # still works
    assert again.expires_at is not None
    assert [t.name for t in await user.list_tokens()] == [login.name, again.name]
    await rig.admin.set_token_settings(password_login_only=False)
    assert (await user.create_token("allowed-again")).name == "allowed-again"


async def test_the_setting_takes_a_json_boolean_only(rig: Rig) -> None:
    async with raw_client(base_url=f"{rig.url}/api/v1", headers={
            "Authorization": f"Bearer {rig.admin_token}"}) as raw:
        for bad in ("yes", 1, "true", None):
            resp = await raw.put("/settings/tokens", json={"password_login_only": bad})
            assert resp.status_code == 422, (bad, resp.text)
    assert (await rig.admin.token_settings()).password_login_only is False
