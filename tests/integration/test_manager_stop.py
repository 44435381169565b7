"""A clean stop of ``tashi-manager`` (SIGTERM) with long-polls open (issue 14): the
agent's watch and the scheduler's snapshot get their usual answer at once, not a 500
after the graceful-shutdown timeout, and the log shows no CancelledError."""

from __future__ import annotations

import asyncio
import signal
import time

from tashi.client import TashiClient
from tests.integration.conftest import raw_client
from tests.integration.replicas import Database, Managers, database, managers, until_serving

__all__ = ["database", "managers"]  # the fixtures, used by name


async def test_a_clean_stop_answers_the_long_polls_open(managers: Managers,
                                                        database: Database) -> None:
    m = managers.start("m1")
    await until_serving(m)
    async with TashiClient(m.url, database.admin_token) as admin:
        agent_token = (await admin.add_host("h1")).token
    watch = f"{m.url}/api/v1/agent/hosts/h1/instances"
    snapshot = f"{m.url}/api/v1/scheduler/snapshot"
    as_agent = {"Authorization": f"Bearer {agent_token}"}
    as_admin = {"Authorization": f"Bearer {database.admin_token}"}
    async with raw_client() as http:
        seen = (await http.get(watch, headers=as_agent)).json()["revision"]
        snapped = (await http.get(snapshot, headers=as_admin)).json()["revision"]
        polls = [asyncio.create_task(http.get(watch, headers=as_agent,
                                              params={"since": seen, "wait": 30})),
                 asyncio.create_task(http.get(snapshot, headers=as_admin,
                                              params={"since": snapped, "wait": 30}))]
        await asyncio.sleep(1)  # both waiting in the manager
        assert not any(p.done() for p in polls)
        stopped = time.monotonic()
        m.process.send_signal(signal.SIGTERM)
        answers = await asyncio.gather(*polls)
        took = time.monotonic() - stopped
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert took < 1.5, took  # at once, not after the 2 s graceful timeout
    assert m.process.wait(15) in (0, -signal.SIGTERM)  # uvicorn re-raises the signal
    log = m.log_text()
    assert "CancelledError" not in log, log[-3000:]
    assert "Traceback" not in log, log[-3000:]
