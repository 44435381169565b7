"""An all-in-one Tashi cluster in one process, over a data directory.

The manager serves its real HTTP API; the agent and the scheduler talk to it
through that API exactly as remote ones would. Stopping it stops the daemons,
never the VMs: the next start on the same directory re-adopts them.

Layout of the data directory::

    tashi.db         the store (sqlite, WAL)
    images/          the image directory
    agent/           the agent's runtime state (one directory per VM) and credential
    hosts/           with ``hosts`` > 1: each host's state and agent log, see
                     :mod:`tashi.embedded.hosts`
    admin.token      the first admin's token (mode 0600)
    tashi-up.log     the log of ``tashi up`` (mode 0600)
    lock             held while a cluster runs on this directory
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import signal
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import uvicorn
from prometheus_client import CollectorRegistry

from tashi.agent.drivers.registry import make_driver
from tashi.agent.service import Agent, load_credential, save_credential
from tashi.agent.settings import AgentSettings, default_host_name
from tashi.api.server import ManagerServer, make_server
from tashi.client import TashiClient
from tashi.common.clock import SystemClock
from tashi.common.files import private_dir, write_private
from tashi.common.pki import ensure_private_ca
from tashi.common.secrets import hash_token
from tashi.domain.errors import Conflict, TashiError
from tashi.embedded.hosts import AgentOptions, HostAgents, HostsNetwork, hosts_network
from tashi.manager.bootstrap import build_core, prepare_store
from tashi.manager.settings import ManagerSettings
from tashi.scheduler.service import Scheduler
from tashi.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClusterConfig:
    data_dir: Path
    port: int = 8470
    listen: str = "127.0.0.1"
    host: str = ""  # this machine's host name in the cluster; default from the hostname
    driver: str = "qemu"
    accel: str = "auto"
    heartbeat_interval_s: float = 10.0
    tls: bool = False  # serve HTTPS with a certificate from a private CA in data_dir/tls
    hosts: int = 1  # > 1: that many hosts h1..hN, each in a network namespace (root only)
    subnet: str = ""  # the hosts' subnet (hosts > 1); default: derived from data_dir

    @property
    def url(self) -> str:
        host = f"[{self.listen}]" if ":" in self.listen else self.listen  # IPv6: [::1]
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}"

    @property
    def ca_file(self) -> Path:
        return self.data_dir / "tls" / "ca.pem"

    @property
    def verify(self) -> bool | str:
        return str(self.ca_file) if self.tls else True

    @property
    def token_file(self) -> Path:
        return self.data_dir / "admin.token"


class _QuietServer(ManagerServer):
    """uvicorn without its own signal handling: the cluster stops it."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def make_data_dir(data_dir: Path) -> None:
    """Make ``data_dir`` (and its parents) unless it is there; TashiError saying why not."""
    try:
        private_dir(data_dir)  # 0700: the store, tokens, logs and VMs' files are inside
    except OSError as exc:
        raise TashiError(f"cannot create data directory {data_dir}: "
                         f"{_reason(exc)}") from exc


@contextlib.contextmanager
def directory_lock(data_dir: Path) -> Iterator[IO[str]]:
    make_data_dir(data_dir)
    with contextlib.ExitStack() as stack:
        try:
            lock = stack.enter_context(open(data_dir / "lock", "a+"))
        except OSError as exc:
            raise TashiError(f"cannot use data directory {data_dir}: "
                             f"{_reason(exc)}") from exc
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise Conflict(f"a Tashi cluster is already running on {data_dir}") from None
        yield lock


def listening_socket(listen: str, port: int) -> socket.socket:
    """A socket listening on ``listen:port``, made before anything else starts, so an
    address in use is one clear error rather than uvicorn exiting half-way."""
    where = f"[{listen}]:{port}" if ":" in listen else f"{listen}:{port}"
    try:
        family, _, _, _, address = socket.getaddrinfo(
            listen or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
        return socket.create_server(address, family=family)
    except OSError as exc:
        cls = Conflict if exc.errno == errno.EADDRINUSE else TashiError
        raise cls(f"cannot listen on {where}: {_reason(exc)}") from exc


def _reason(exc: OSError) -> str:
    """The OS's reason, as the end of a sentence: "address already in use" (without the
    address that :func:`socket.create_server` adds: the caller names it)."""
    if exc.errno and exc.errno > 0 and not isinstance(exc, socket.gaierror):
        text = os.strerror(exc.errno)
    else:
        text = exc.strerror or str(exc)
    return text[:1].lower() + text[1:]


async def _serve_manager(server: uvicorn.Server, *socks: socket.socket) -> None:
    """``server`` on ``socks``; uvicorn's ``sys.exit`` when it cannot start becomes an error
    (a SystemExit would leave the event loop and skip every clean-up)."""
    try:
        await server.serve(sockets=list(socks))
    except SystemExit as exc:
        raise TashiError(f"the manager could not start (exit {exc.code}): "
                         "see the log above") from None


@contextlib.contextmanager
def _stopped_by_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT and SIGTERM call ``stop`` while the block runs."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)
    for sig in signals:
        loop.add_signal_handler(sig, stop)
    try:
        yield
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


class Cluster:
    """Run with :meth:`run` until :meth:`stop` (or SIGINT/SIGTERM when installed)."""

    def __init__(self, config: ClusterConfig) -> None:
        self.config = config
        self.admin_token: str | None = None
        self.network: HostsNetwork | None = None  # with hosts > 1, once made
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self, *, ready: asyncio.Event | None = None,
                  handle_signals: bool = True) -> None:
        """Start, serve until stopped, stop. With ``handle_signals``, SIGINT/SIGTERM stop
        it from the very start: one during start-up stops it as soon as it has started."""
        with _stopped_by_signals(self.stop) if handle_signals else contextlib.nullcontext():
            await self._run(ready)

    async def _run(self, ready: asyncio.Event | None) -> None:
        cfg = self.config
        with directory_lock(cfg.data_dir), listening_socket(cfg.listen, cfg.port) as sock, \
                contextlib.ExitStack() as stack:
            socks = [sock]
            names = {"localhost", "127.0.0.1", cfg.listen}
            if cfg.hosts > 1:
                self.network = stack.enter_context(
                    hosts_network(cfg.data_dir, cfg.hosts, cfg.port, cfg.subnet))
                socks.append(self.network.lan_socket)
                names.add(self.network.gateway)
            settings = ManagerSettings(
                db_url=f"sqlite:///{cfg.data_dir / 'tashi.db'}", listen=cfg.listen,
                port=cfg.port, image_dir=cfg.data_dir / "images")
            if cfg.tls:
                files = ensure_private_ca(cfg.data_dir / "tls",
                                          sorted(names - {"0.0.0.0", "::"}))
                settings = settings.model_copy(update={"tls_cert": files.cert,
                                                       "tls_key": files.key})
            store, new_admin = prepare_store(settings)
            try:
                await self._serve(store, settings, new_admin, socks, ready)
            finally:
                store.close()

    async def _serve(self, store: Store, settings: ManagerSettings, new_admin: str | None,
                     socks: list[socket.socket], ready: asyncio.Event | None) -> None:
        cfg = self.config
        if new_admin:
            write_private(cfg.token_file, new_admin + "\n")
        self.admin_token = cfg.token_file.read_text().strip()
        core = build_core(settings, store)
        host = cfg.host or default_host_name()
        if self.network is None:
            credential = self._agent_credential(core.hosts.local_credential, store, host,
                                                cfg.data_dir / "agent" / "credential")
        else:
            credential = ""  # each host's is saved in its state directory for its agent
            for each in self.network.hosts:
                self._agent_credential(core.hosts.local_credential, store, each.name,
                                       each.credential)
        server = make_server(settings, core, _QuietServer)
        serving = asyncio.create_task(_serve_manager(server, *socks), name="manager")
        while not server.started:
            if serving.done():
                await serving  # raises why it could not start
                raise TashiError(f"the manager on {cfg.url} stopped at start")
            await asyncio.sleep(0.05)
        try:
            if self._stop.is_set():  # stopped during start-up: stop straight away
                pass
            elif self.network is None:
                await self._run_daemons(host, credential, ready, core.metrics.registry)
            else:
                await self._run_hosts(self.network, ready)
        finally:
            core.notifier.close()
            server.should_exit = True
            await serving

    def _agent_credential(self, mint: Callable[[str], str], store: Store, host: str,
                          path: Path) -> str:
        saved = load_credential(path)
        if saved and store.principal_for_token(hash_token(saved), SystemClock().now()) is not None:
            return saved
        token = mint(host)
        save_credential(path, token)
        return token

    async def _run_daemons(self, host: str, credential: str, ready: asyncio.Event | None,
                           registry: CollectorRegistry) -> None:
        """``registry``: the manager's, so that its ``/metrics`` shows the agent's too."""
        cfg = self.config
        agent_settings = AgentSettings(
            host=host, state_dir=cfg.data_dir / "agent", image_dir=cfg.data_dir / "images",
            suspend_dir=cfg.data_dir / "suspend",
            driver=cfg.driver, accel=cfg.accel)  # type: ignore[arg-type]
        async with TashiClient(cfg.url, credential, verify=cfg.verify) as agent_client, \
                TashiClient(cfg.url, self.admin_token, verify=cfg.verify) as admin_client:
            agent = Agent(agent_client, host, make_driver(agent_settings),
                          agent_settings.image_dir, suspend_dir=agent_settings.suspend_dir,
                          heartbeat_interval_s=cfg.heartbeat_interval_s,
                          poll_wait_s=agent_settings.poll_wait_s,
                          resync_s=agent_settings.resync_s,
                          report_every_s=agent_settings.report_every_s,
                          usage_every_s=agent_settings.usage_every_s, registry=registry,
                          state_dir=agent_settings.state_dir)
            await agent.heartbeat()
            tasks = [asyncio.create_task(agent.run(), name="agent"),
                     asyncio.create_task(Scheduler(admin_client).run(), name="scheduler")]
            log.info("cluster on %s: manager, agent of host %s and scheduler running",
                     cfg.url, host)
            await self._until_stopped(tasks, ready)
        log.info("cluster on %s stopped; VMs keep running and are re-adopted next time",
                 cfg.url)

    async def _run_hosts(self, network: HostsNetwork, ready: asyncio.Event | None) -> None:
        """The scheduler here, and an agent process in each host's namespace, reaching the
        manager on the LAN's gateway."""
        cfg = self.config
        scheme = "https" if cfg.tls else "http"
        agents = HostAgents(network.hosts, AgentOptions(
            manager_url=f"{scheme}://{network.gateway}:{cfg.port}",
            image_dir=cfg.data_dir / "images", suspend_dir=cfg.data_dir / "suspend",
            driver=cfg.driver, accel=cfg.accel, heartbeat_interval_s=cfg.heartbeat_interval_s,
            ca=cfg.ca_file if cfg.tls else None))
        async with TashiClient(cfg.url, self.admin_token, verify=cfg.verify) as admin_client:
            try:
                await agents.start()
                tasks = [asyncio.create_task(agents.watch(), name="agents"),
                         asyncio.create_task(Scheduler(admin_client).run(), name="scheduler")]
                log.info("cluster on %s: manager, scheduler and the agents of hosts %s "
                         "running", cfg.url, ", ".join(h.name for h in network.hosts))
                await self._until_stopped(tasks, ready)
            finally:
                await agents.stop()
        log.info("cluster on %s stopped; VMs keep running and are re-adopted next time",
                 cfg.url)

    async def _until_stopped(self, tasks: list[asyncio.Task[None]],
                             ready: asyncio.Event | None) -> None:
        """Run ``tasks`` until stopped or one ends (its error raised), then cancel them."""
        if ready is not None and not self._stop.is_set():
            ready.set()
        stopper = asyncio.create_task(self._stop.wait())
        done, _ = await asyncio.wait([*tasks, stopper], return_when=asyncio.FIRST_COMPLETED)
        for task in [*tasks, stopper]:
            task.cancel()
        await asyncio.gather(*tasks, stopper, return_exceptions=True)
        for task in done - {stopper}:
            if not task.cancelled() and task.exception():
                raise task.exception()  # type: ignore[misc]

