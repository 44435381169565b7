"""An in-process cluster: the real manager app served by uvicorn on a free port,
agents with the in-memory fake driver, and the scheduler, all talking HTTP."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import uvicorn

from tashi.agent.drivers.fake import FakeDriver
from tashi.agent.service import Agent
from tashi.api.app import create_app
from tashi.api.schemas import InstanceOut
from tashi.client import TashiClient
from tashi.common.clock import SystemClock
from tashi.domain.errors import NotFound
from tashi.domain.models import ImageFormat, Visibility
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.manager.leadership import Leadership
from tashi.scheduler.service import Scheduler
from tashi.store.base import NewImage, Snapshot, Store
from tashi.store.sql import open_store


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[no-untyped-def]
        yield


@dataclass
class Rig:
    core: ManagerCore
    url: str
    admin: TashiClient
    admin_token: str
    image_dir: Path
    drivers: dict[str, FakeDriver] = field(default_factory=dict)
    agents: dict[str, asyncio.Task[None]] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)
    clients: list[TashiClient] = field(default_factory=list)

    def client(self, token: str | None) -> TashiClient:
        c = TashiClient(self.url, token)
        self.clients.append(c)
        return c

    async def add_host(self, name: str, driver: FakeDriver | None = None) -> FakeDriver:
        cred = await self.admin.add_host(name)
        self.tokens[name] = cred.token
        self.drivers[name] = driver or FakeDriver(cores=8, memory_mib=8192)
        await self.start_agent(name)
        return self.drivers[name]

    def new_agent(self, name: str, *, url: str | None = None,
                  state_dir: Path | None = None) -> Agent:
        """Host ``name``'s agent, reaching the manager at ``url`` (default: the rig's)."""
        client = TashiClient(url or self.url, self.tokens[name])
        self.clients.append(client)
        return Agent(client, name, self.drivers[name], self.image_dir,
                     heartbeat_interval_s=0.2, poll_wait_s=5, resync_s=0.1,
                     report_every_s=1, state_dir=state_dir)

    async def start_agent(self, name: str) -> None:
        agent = self.new_agent(name)
        await agent.heartbeat()
        self.agents[name] = asyncio.create_task(agent.run())

    @contextlib.asynccontextmanager
    async def agent_running(self, name: str, *, url: str | None = None,
                            state_dir: Path | None = None) -> AsyncIterator[Agent]:
        """Host ``name``'s agent (:meth:`new_agent`), running for the block."""
        agent = self.new_agent(name, url=url, state_dir=state_dir)
        await agent.heartbeat()
        task = asyncio.create_task(agent.run())
        try:
            yield agent
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def stop_agent(self, name: str) -> None:
        task = self.agents.pop(name)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def wait_for(self, ref: str | int, *states: str, timeout_s: float = 10,
                       client: TashiClient | None = None) -> InstanceOut:
        c = client or self.admin
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            inst = await c.get_instance(ref)
            if inst.state in states:
                return inst
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"instance {ref} is {inst.state} ({inst.message}), "
                                     f"not {states}")
            await asyncio.sleep(0.05)

    async def wait_pending(self, ref: str | int, *reasons: str, timeout_s: float = 10,
                           client: TashiClient | None = None,
                           state: str = "Pending") -> InstanceOut:
        """Wait until the scheduler (or whoever writes its message) has tried `ref` and
        said why it waits: every one of `reasons` is in its message and it is still
        `state` (no sleep-and-hope)."""
        c = client or self.admin
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            inst = await c.get_instance(ref)
            assert inst.state == state, inst
            if inst.message and all(r in inst.message for r in reasons):
                return inst
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"instance {ref} waits with {inst.message!r}, "
                                     f"not for {reasons}")
            await asyncio.sleep(0.05)

    async def wait_console(self, ref: str | int, text: str, timeout_s: float = 10) -> str:
        """The console once ``text`` is in it (the agent streams it apart from reports)."""
        deadline = asyncio.get_running_loop().time() + timeout_s
        while text not in (console := await self.admin.console(ref)):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no {text!r} on the console of {ref}: {console!r}")
            await asyncio.sleep(0.05)
        return console

    async def wait_gone(self, ref: str | int, timeout_s: float = 10) -> None:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while asyncio.get_running_loop().time() < deadline:
            try:
                await self.admin.get_instance(ref)
            except NotFound:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"instance {ref} still exists")


async def start_rig(tmp_path: Path, *, heartbeat_timeout_s: float = 30,
                    join_token: str | None = None, store_url: str | None = None,
                    leadership: Callable[[Store], Leadership] | None = None,
                    restored: tuple[Snapshot, str] | None = None,
                    ) -> tuple[Rig, _Server, asyncio.Task[None]]:
    """``store_url``: the manager's store (default: sqlite in ``tmp_path``);
    ``leadership``: what makes the app's leadership of it (default: the app's);
    ``restored``: a snapshot to restore into the new store (a backup), and the token
    of an admin in it."""
    store = open_store(store_url or f"sqlite:///{tmp_path}/tashi.db")
    if restored is None:
        admin_token = ensure_admin(store)
        assert admin_token
        ensure_default_network(store)
    else:
        store.restore(restored[0])
        admin_token = restored[1]
    image_dir = tmp_path / "images"
    core = ManagerCore.build(store, SystemClock(), image_dir=image_dir,
                             heartbeat_timeout_s=heartbeat_timeout_s, join_token=join_token,
                             max_wait_s=5)
    app = create_app(core, liveness_interval_s=0.2,
                     leadership=None if leadership is None else leadership(store))
    server = _Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None,
                                    lifespan="on"))
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    rig = Rig(core=core, url=url, admin=TashiClient(url, admin_token), admin_token=admin_token,
              image_dir=image_dir)
    return rig, server, serving


async def stop_rig(rig: Rig, server: _Server, serving: asyncio.Task[None]) -> None:
    for name in list(rig.agents):
        await rig.stop_agent(name)
    for c in [rig.admin, *rig.clients]:
        await c.aclose()
    rig.core.notifier.close()
    server.should_exit = True
    await serving
    rig.core.store.close()


def add_guest_image(r: Rig) -> None:
    """The public image ``guest`` (the admin's) that tests boot."""
    (r.image_dir / "guest").write_bytes(b"\0" * 1024)
    r.core.store.create_image(NewImage("guest", "admin", ImageFormat.RAW, 1024, 1024,
                                       visibility=Visibility.PUBLIC))


RAW_TIMEOUT = httpx.Timeout(30.0)  # TashiClient's; httpx's 5 s fails a slow fsync under load


def raw_client(base_url: str = "", **kwargs: object) -> httpx.AsyncClient:
    """A bare HTTP client, for what TashiClient would refuse to send (or hide)."""
    return httpx.AsyncClient(base_url=base_url, timeout=RAW_TIMEOUT, **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    """A cluster without a scheduler task (tests drive placement when they want)."""
    r, server, serving = await start_rig(tmp_path, heartbeat_timeout_s=1.0)
    add_guest_image(r)
    yield r
    await stop_rig(r, server, serving)


@pytest.fixture
async def scheduled(rig: Rig) -> AsyncIterator[Rig]:
    """The rig with a scheduler running."""
    task = asyncio.create_task(Scheduler(rig.client(rig.admin_token), poll_wait_s=5).run())
    yield rig
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# --- PostgreSQL: a throwaway cluster for the store tests --------------------------------
# (imports are local so that this section stays apart from the rig above)
PG_SETTINGS = {"listen_addresses": "''", "fsync": "off", "synchronous_commit": "off",
               "full_page_writes": "off", "max_connections": "200"}


@dataclass
class PostgresCluster:
    """A PostgreSQL cluster in a temp dir, reachable only on a unix socket in that dir.

    :meth:`new_database` copies a database migrated once (the template), which is
    faster than migrating each test's database.
    """

    socket_dir: Path
    start_s: float  # how long initdb, start and the template's migration took
    template: str = "tashi_template"
    databases: int = 0

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@/{database}?host={self.socket_dir}"

    def execute(self, sql: str) -> None:
        import psycopg

        conninfo = f"host={self.socket_dir} dbname=postgres user=postgres"
        with psycopg.connect(conninfo, autocommit=True) as connection:
            connection.execute(sql.encode())  # our own literal SQL

    def new_database(self) -> str:
        """The URL of a new, empty database at the newest schema."""
        self.databases += 1
        name = f"test_{self.databases}"
        self.execute(f"CREATE DATABASE {name} TEMPLATE {self.template} STRATEGY FILE_COPY")
        return self.url(name)


def _pg_run(argv: list[str], what: str, log: Path | None = None) -> None:
    import os
    import subprocess

    if os.geteuid() == 0:  # initdb refuses root: run the server as Debian's postgres user
        argv = ["runuser", "-u", "postgres", "--", *argv]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = log.read_text()[-2000:] if log is not None and log.exists() else ""
        pytest.fail(f"PostgreSQL {what} failed ({done.returncode}): {done.stderr}{tail}")


def _pg_bindir() -> Path:
    """The newest installed PostgreSQL's bin directory; fails (never skips) if none."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"),
                   key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                   else 0)
    if not found:
        pytest.fail("PostgreSQL is not installed: apt-get install -y --no-install-recommends "
                    "postgresql (scripts/install.sh does it)")
    return found[-1].parent


def _pg_dir() -> Path:
    import os
    import pwd
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="tashi-pg-"))  # under /tmp: postgres can reach it
    if os.geteuid() == 0:
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("no 'postgres' system user (made by Debian's postgresql package)")
        os.chown(root, user.pw_uid, user.pw_gid)
    return root


@contextlib.contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A throwaway PostgreSQL cluster (its template database migrated), stopped and
    deleted when the block ends; also for the benchmarks (``benchmarks/failover.py``)."""
    import shutil
    import time

    from tashi.store.sql import migrate

    bindir, root = _pg_bindir(), _pg_dir()
    data, log = root / "data", root / "server.log"
    pg_ctl = str(bindir / "pg_ctl")
    try:
        started = time.monotonic()
        _pg_run([str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                 "--no-sync", "-E", "UTF8", "--no-locale"], "initdb")
        settings = {**PG_SETTINGS, "unix_socket_directories": f"'{root}'"}
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{k} = {v}\n" for k, v in settings.items())
        _pg_run([pg_ctl, "start", "-w", "-s", "-D", str(data), "-l", str(log)], "start", log)
        try:
            cluster = PostgresCluster(root, 0.0)
            cluster.execute(f"CREATE DATABASE {cluster.template}")
            migrate(cluster.url(cluster.template))
            cluster.start_s = time.monotonic() - started
            yield cluster
        finally:
            _pg_run([pg_ctl, "stop", "-w", "-s", "-m", "immediate", "-D", str(data)],
                    "stop", log)
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster for the whole session, stopped and deleted at its end."""
    with postgres_cluster() as cluster:
        yield cluster


@pytest.fixture
def postgres_url(postgres: PostgresCluster) -> str:
    """The URL of a fresh PostgreSQL database at the newest schema, for one test."""
    return postgres.new_database()
