"""Manager failover: how long until another replica leads, and does the leader's work.

    python benchmarks/failover.py [--runs 5] [--replicas 3] [--lease-s 10]

Starts a throwaway PostgreSQL cluster (as the tests do, on a unix socket in a temporary
directory: ``tests/integration/conftest.py``), then per run a fresh database with
``--replicas`` ``tashi-manager`` processes on it (loopback, free ports; heartbeat timeout
2 s, liveness sweep every 0.5 s) and one host, whose agent (fake driver, in this
process) heartbeats through every manager's URL (``TASHI_URL``-style list). Once one
replica leads and has run a while (a random 0-4 s: the kill falls anywhere in its renewal
cycle), the host's agent is stopped and the leader killed with SIGKILL at the same
moment. Times, from the kill:

- **takeover**: until another replica holds the lease (its row, polled every 20 ms);
- **first leader action**: until the silent host is marked (its ``host.silent`` event,
  polled every 20 ms); the host is due 2 s after its last heartbeat, long before a
  takeover, so this is the takeover plus the new leader's first sweep;

and, with 3 or more replicas, a clean stop of the new leader (SIGTERM: it releases the
lease) until the next one leads (**handover**). Every process and directory is removed
at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' PostgreSQL and manager processes

from tests.integration.conftest import PostgresCluster, postgres_cluster  # noqa: E402
from tests.integration.replicas import (  # noqa: E402
    Managers,
    leader,
    new_database,
    query,
    until_serving,
)

from stats import SUMMARY_HEADERS, machine_line, print_table, summary_row  # noqa: E402
from tashi.agent.drivers.fake import FakeDriver  # noqa: E402
from tashi.agent.service import Agent  # noqa: E402
from tashi.client import TashiClient  # noqa: E402

POLL_S = 0.02


async def until(what: str, check: Callable[[], object], timeout_s: float) -> float:
    """Seconds until ``check()`` is true (polled every 20 ms)."""
    started = time.monotonic()
    while not check():
        if time.monotonic() - started > timeout_s:
            raise RuntimeError(f"{what}: not within {timeout_s} s")
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started


async def one_run(pg: PostgresCluster, replicas: int, lease_s: float, tmp: Path,
                  rng: random.Random) -> tuple[float, float, float | None]:
    db = new_database(pg)
    managers = Managers(db.url, tmp, env={"TASHI_HEARTBEAT_TIMEOUT_S": "2",
                                          "TASHI_LIVENESS_INTERVAL_S": "0.5",
                                          "TASHI_LEADER_LEASE_S": str(lease_s)})
    agent_task: asyncio.Task[None] | None = None
    try:
        ms = [managers.start(f"r{i}") for i in range(replicas)]
        await asyncio.gather(*(until_serving(m) for m in ms))
        await until("a leader", lambda: leader(pg, db.name), 30)
        held = leader(pg, db.name)
        assert held is not None
        first = managers.named(held[0])
        urls = ",".join(sorted((m.url for m in ms), key=lambda u: u != first.url))
        async with TashiClient(urls, db.admin_token) as admin:
            cred = await admin.add_host("h1")
        async with TashiClient(urls, cred.token) as client:
            agent = Agent(client, "h1", FakeDriver(), tmp, heartbeat_interval_s=0.2,
                          poll_wait_s=5, resync_s=0.1, manager_url=urls)
            await agent.heartbeat()
            agent_task = asyncio.create_task(agent.run())
            await asyncio.sleep(1 + rng.uniform(0, 4))
            agent_task.cancel()
            managers.kill(first)
            killed = time.monotonic()
            await asyncio.gather(agent_task, return_exceptions=True)

            def taken() -> bool:
                now = leader(pg, db.name)
                return now is not None and now[0] != first.name

            await until("takeover", taken, 60)
            takeover = time.monotonic() - killed
            await until("h1 silent", lambda: query(
                pg, "SELECT 1 FROM events WHERE kind = 'host.silent' AND host = 'h1'",
                (), db.name), 60)
            action = time.monotonic() - killed
        handover = None
        if replicas >= 3:
            now = leader(pg, db.name)
            assert now is not None
            second = managers.named(now[0])
            second.process.terminate()
            handover = await until("handover", lambda: (leader(pg, db.name) or ("",))[0]
                                   not in ("", second.name), 30)
        return takeover, action, handover
    finally:
        if agent_task is not None:
            agent_task.cancel()
            await asyncio.gather(agent_task, return_exceptions=True)
        managers.stop_all()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--lease-s", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    load = os.getloadavg()
    rng = random.Random(args.seed)
    takeovers: list[float] = []
    actions: list[float] = []
    handovers: list[float] = []
    with postgres_cluster() as pg, tempfile.TemporaryDirectory(prefix="tashi-failover-") as tmp:
        for run in range(args.runs):
            where = Path(tmp) / f"run-{run}"
            where.mkdir()
            takeover, action, handover = await one_run(pg, args.replicas, args.lease_s,
                                                       where, rng)
            takeovers.append(takeover)
            actions.append(action)
            if handover is not None:
                handovers.append(handover)
            print(f"run {run + 1}: takeover {takeover:.2f} s, first leader action "
                  f"{action:.2f} s" + (f", handover {handover:.2f} s" if handover else ""),
                  flush=True)
    print(f"\n{args.replicas} replicas on one PostgreSQL, lease {args.lease_s} s (renewed "
          f"every {args.lease_s / 3:.2f} s, tried every {args.lease_s / 10:.2f} s by the "
          f"others); seconds from SIGKILL of the leader (SIGTERM for the handover)")
    print_table(SUMMARY_HEADERS, [
        summary_row("kill -> another replica leads", takeovers, 2),
        summary_row("kill -> silent host marked (first leader action)", actions, 2),
        summary_row("SIGTERM -> next replica leads (handover)", handovers, 2)])
    print(machine_line(load))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
