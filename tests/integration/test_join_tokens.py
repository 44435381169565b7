"""The join token: rotated and revoked by admins; the store keeps the decision."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tashi.common.clock import SystemClock
from tashi.domain.errors import Conflict, Forbidden, NotFound, RateLimited, Unauthenticated
from tashi.manager.core import ManagerCore
from tests.integration.conftest import start_rig, stop_rig


async def test_rotate_then_revoke(tmp_path: Path) -> None:
    rig, server, serving = await start_rig(tmp_path, join_token="seeded")
    try:
        anyone = rig.client(None)
        assert await anyone.join("h1", "seeded")
        assert (await rig.admin.join_token("show")).enabled
        new = (await rig.admin.join_token("rotate")).token
        assert new
        assert new != "seeded"
        with pytest.raises(Forbidden, match="wrong join token"):
            await anyone.join("h2", "seeded")
        assert await anyone.join("h2", new)
        await rig.admin.join_token("revoke")
        assert not (await rig.admin.join_token("show")).enabled
        with pytest.raises(Forbidden, match="auto registration is disabled"):
            await anyone.join("h3", new)
        user = rig.client((await rig.admin.add_user("bob", "user")).token)
        with pytest.raises(Forbidden):
            await user.join_token("rotate")
        # a restart with the same seed in its settings does not undo the revocation
        again = ManagerCore.build(rig.core.store, SystemClock(), image_dir=rig.image_dir,
                                  heartbeat_timeout_s=30, join_token="seeded")
        assert not again.hosts.join_tokens.enabled
        assert "seeded" not in str(rig.core.store.get_setting("join_token_sha256"))
    finally:
        await stop_rig(rig, server, serving)


async def test_join_token_cannot_take_over_a_registered_host(tmp_path: Path) -> None:
    """The cluster-wide join token admits new hosts only; an admin reissues a host's
    credential, which revokes the earlier ones."""
    rig, server, serving = await start_rig(tmp_path, join_token="seeded")
    try:
        anyone = rig.client(None)
        joined = await anyone.join("h1", "seeded")
        await rig.add_host("pre")
        for name in ("h1", "pre"):
            with pytest.raises(Conflict, match=f"host {name} is already registered.*"
                                               f"tashi host credential {name}"):
                await anyone.join(name, "seeded")
        old_agent = rig.client(joined)
        await old_agent.desired("h1", None, 0)  # the first credential still works
        fresh = await rig.admin.reissue_host_credential("h1")
        assert fresh.host.name == "h1"
        with pytest.raises(Unauthenticated):
            await old_agent.desired("h1", None, 0)  # revoked at once
        await rig.client(fresh.token).desired("h1", None, 0)
        events = [e.message for e in rig.core.store.list_events(host="h1")]
        assert any("credential reissued by user admin (1 revoked)" in m for m in events)
        # a host whose credentials were all revoked may join again
        for record in rig.core.store.list_tokens(host="pre"):
            rig.core.store.delete_token(record.id)
        assert await anyone.join("pre", "seeded")
        with pytest.raises(NotFound):
            await rig.admin.reissue_host_credential("ghost")
    finally:
        await stop_rig(rig, server, serving)


async def test_wrong_join_tokens_are_rate_limited(tmp_path: Path) -> None:
    rig, server, serving = await start_rig(tmp_path, join_token="seeded")
    try:
        anyone = rig.client(None)
        for _ in range(5):
            with pytest.raises(Forbidden, match="wrong join token"):
                await anyone.join("h1", "guess")
        with pytest.raises(RateLimited, match="too many failed joins for this host"):
            await anyone.join("h1", "seeded")  # even the right one, while blocked
        assert await anyone.join("h2", "seeded")  # another name is not blocked
    finally:
        await stop_rig(rig, server, serving)


async def test_many_hosts_joining_at_once_from_one_address_are_not_limited(
        tmp_path: Path) -> None:
    """Only wrong join tokens count: 60 right ones at once (one NAT, or a rack booting)
    all get in, more than the per-address limit of failures."""
    rig, server, serving = await start_rig(tmp_path, join_token="seeded")
    try:
        anyone = rig.client(None)
        tokens = await asyncio.gather(*(anyone.join(f"n{i}", "seeded") for i in range(60)))
        assert len(set(tokens)) == 60
    finally:
        await stop_rig(rig, server, serving)
