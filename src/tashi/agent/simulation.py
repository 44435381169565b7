"""Simulated hosts: many agents with the fake driver in one process (``tashi-agent
simulate``), for scale tests and demos. Nothing runs on them.

Labelled as simulation wherever they show: their names carry a prefix (``sim-`` by
default), their agents report the hypervisor ``fake (simulation)`` (``tashi host
list`` shows it), their VMs' consoles say "simulated VM".

Each host joins with the cluster's join token, then runs an ordinary
:class:`~tashi.agent.service.Agent` tuned to cost little: a heartbeat every
``heartbeat_interval_s`` (the agents start spread over one interval, so heartbeats
do not come in bursts), one long-poll for its desired state, a converge pass on a
change or every ``resync_s``. Agents share HTTP connection pools, a few hosts per
pool (a pool looks through all its connections for each request: one pool for
thousands of long-polls would cost more than the requests themselves).
"""

from __future__ import annotations

import asyncio
import logging
import random
import ssl
from dataclasses import dataclass
from pathlib import Path

import httpx

from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.service import Agent
from tashi.client import TashiClient
from tashi.domain.errors import TashiError

log = logging.getLogger(__name__)

#: Hosts per HTTP connection pool (each holds about two connections per host).
HOSTS_PER_POOL = 16


@dataclass(frozen=True, slots=True)
class SimulationSettings:
    manager_url: str
    join_token: str
    hosts: int
    prefix: str = "sim-"
    cores: int = 64
    memory_mib: int = 256 * 1024
    heartbeat_interval_s: float = 10.0
    poll_wait_s: float = 60.0  # the manager answers by its own longest wait anyway
    resync_s: float = 30.0
    report_every_s: float = 300.0
    join_concurrency: int = 32
    verify: bool | str = True  # a CA file for a private CA

    def names(self) -> list[str]:
        return [f"{self.prefix}{i}" for i in range(1, self.hosts + 1)]


class Simulation:
    def __init__(self, settings: SimulationSettings) -> None:
        self._settings = settings
        verify = settings.verify
        self._tls: ssl.SSLContext | bool = (ssl.create_default_context(cafile=verify)
                                            if isinstance(verify, str) else verify)
        self._pools: list[httpx.AsyncHTTPTransport] = []
        self.drivers: dict[str, FakeDriver] = {}

    async def run(self) -> None:
        """Join every host, then run their agents until cancelled."""
        s = self._settings
        try:
            tokens = await self.join_all()
            log.info("simulation: %d hosts joined (%s1 ... %s%d); starting their agents",
                     len(tokens), s.prefix, s.prefix, s.hosts)
            async with asyncio.TaskGroup() as group:
                for i, (name, token) in enumerate(tokens.items()):
                    client = self._client(token, self._pool(i // HOSTS_PER_POOL))
                    group.create_task(self._run_agent(name, client), name=f"agent-{name}")
        finally:
            for pool in self._pools:
                await pool.aclose()

    async def join_all(self) -> dict[str, str]:
        """Each host's credential, from the join token (a few joins at a time)."""
        s = self._settings
        gate = asyncio.Semaphore(s.join_concurrency)
        client = self._client(None, self._pool(0))

        async def join(name: str) -> tuple[str, str]:
            async with gate:
                return name, await client.join(name, s.join_token)

        return dict(await asyncio.gather(*(join(n) for n in s.names())))

    async def _run_agent(self, name: str, client: TashiClient) -> None:
        s = self._settings
        await asyncio.sleep(random.uniform(0, s.heartbeat_interval_s))  # noqa: S311 (jitter)
        driver = self.drivers[name] = FakeDriver(cores=s.cores, memory_mib=s.memory_mib)
        agent = Agent(client, name, driver, Path("/nonexistent/simulation"),
                      heartbeat_interval_s=s.heartbeat_interval_s, poll_wait_s=s.poll_wait_s,
                      resync_s=s.resync_s, report_every_s=s.report_every_s)
        while True:  # one host failing never stops the others
            try:
                await agent.run()
            except TashiError as exc:
                log.warning("simulation: host %s: agent stopped (%s); restarting in %.0f s",
                            name, exc.message, s.heartbeat_interval_s)
            await asyncio.sleep(s.heartbeat_interval_s)

    def _pool(self, i: int) -> httpx.AsyncHTTPTransport:
        """The ``i``-th connection pool (closed by :meth:`run`, not by its clients)."""
        while len(self._pools) <= i:
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            self._pools.append(httpx.AsyncHTTPTransport(limits=limits, verify=self._tls))
        return self._pools[i]

    def _client(self, token: str | None, pool: httpx.AsyncHTTPTransport) -> TashiClient:
        return TashiClient(self._settings.manager_url, token, transport=pool,
                           timeout_s=self._settings.poll_wait_s + 60)
