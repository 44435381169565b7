"""The leader's loops write fenced (:mod:`tashi.store.fencing`), in the real app: once
another replica took the lease over, a liveness sweep still running here writes nothing
(its host is not marked silent), until this replica's next round finds the lease lost
and stops its loops."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from sqlalchemy import text

from tashi.manager.leadership import Leadership
from tashi.store.base import Store
from tashi.store.sql.engine import make_engine
from tests.integration.conftest import start_rig, stop_rig


async def test_a_sweep_after_a_takeover_writes_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    made: list[Leadership] = []

    def slow_renewals(store: Store) -> Leadership:  # renews every 10 s: a wide window
        made.append(Leadership(store, "here", lease_s=30))
        return made[0]

    rig, server, serving = await start_rig(tmp_path, heartbeat_timeout_s=1.0,
                                           leadership=slow_renewals)
    try:
        (me,) = made
        await asyncio.wait_for(me.until_leading(), 5)
        await rig.add_host("h1")
        await rig.stop_agent("h1")  # h1 falls silent: the sweep would mark it
        engine = make_engine(f"sqlite:///{tmp_path}/tashi.db")
        with engine.begin() as conn:  # another replica took the lease (as after an expiry)
            conn.execute(text("UPDATE leases SET holder = 'there', token = token + 1"))
        engine.dispose()
        assert me.leads()  # it does not know yet: no round since
        await asyncio.sleep(2.5)  # the timeout (1 s) and many sweeps (every 0.2 s)
        assert not (await rig.admin.get_host("h1")).silent
        assert "no longer holds lease 'manager-leader': it is held by there" in caplog.text
        assert await asyncio.to_thread(me.round) == me.retry_s  # the renewal is refused
        assert not me.leads()
        assert "replica here no longer leads" in caplog.text
        assert not (await rig.admin.get_host("h1")).silent
    finally:
        await stop_rig(rig, server, serving)
