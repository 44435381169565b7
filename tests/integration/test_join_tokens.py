"""The join token: rotated and revoked by admins; the store keeps the decision."""

from __future__ import annotations

from pathlib import Path

import pytest

from tashi.common.clock import SystemClock
from tashi.domain.errors import Forbidden
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
