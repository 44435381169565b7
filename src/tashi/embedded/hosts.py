"""Many hosts on one machine (``tashi up --hosts N``): each host's agent is a process of
its own inside the host's network namespace (:mod:`tashi.embedded.netns`).

Layout under the data directory::

    hosts/network.json       the hosts' subnet, kept so that a host keeps its address
    hosts/<name>/            host <name>'s state directory (0700): its credential, its
                             VMs' runtime directories (qemu/instances/<id>/)
    hosts/<name>/agent.log   its agent's stdout and stderr (0600)
    hosts/<name>/agent.pid   its agent's PID while it runs
    images/, suspend/        shared by every host, as a real cluster shares NFS

A stop (Ctrl-C) ends the agents and removes the namespaces' names and the LAN; a VM's
QEMU keeps its host's namespace alive. The next start names that namespace again
(``ip netns attach``) from a QEMU still running on the host, and joins it to a new LAN.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tashi.agent.drivers.qemu.runtime import RuntimeLayout, list_instance_ids, live_pid
from tashi.common.files import private_dir, private_file, write_private
from tashi.domain.errors import Forbidden, TashiError
from tashi.embedded import netns
from tashi.embedded.netns import Layout

log = logging.getLogger(__name__)

HOSTS_DIR = "hosts"
NETWORK_FILE = "network.json"
MAX_HOSTS = 200
STOP_TIMEOUT_S = 15.0
#: Settings of the caller's environment an agent of the cluster must not take: the
#: credential is the host's own (saved in its state directory); metrics are not served.
NOT_INHERITED = frozenset({"TASHI_AGENT_TOKEN", "TASHI_AGENT_JOIN_TOKEN",
                           "TASHI_AGENT_METRICS_LISTEN"})


def require_root(hosts: int) -> None:
    """Forbidden, in one line, unless this process may make network namespaces."""
    if hosts > 1 and os.geteuid() != 0:
        raise Forbidden(f"--hosts {hosts} needs root: each host runs in a network "
                        "namespace of its own, which only root can make (without root, "
                        "use --hosts 1)")


@dataclass(frozen=True)
class Host:
    index: int
    name: str
    namespace: str
    address: str
    state_dir: Path

    @property
    def log_file(self) -> Path:
        return self.state_dir / "agent.log"

    @property
    def credential(self) -> Path:
        return self.state_dir / "credential"

    @property
    def pidfile(self) -> Path:
        return self.state_dir / "agent.pid"


def plan_hosts(data_dir: Path, layout: Layout) -> list[Host]:
    return [Host(i, layout.host_name(i), layout.host_ns(i), str(layout.address(i)),
                 data_dir / HOSTS_DIR / layout.host_name(i))
            for i in range(1, layout.hosts + 1)]


@dataclass
class HostsNetwork:
    """The network made for the hosts, and the manager's socket on the LAN."""

    layout: Layout
    hosts: list[Host]
    lan_socket: socket.socket

    @property
    def gateway(self) -> str:
        return str(self.layout.gateway)


# --- finding the VMs of a host -----------------------------------------------------------


def live_vm_pids(state_dir: Path) -> list[int]:
    """PIDs of the live QEMU processes of the host whose state directory is ``state_dir``
    (their pidfiles, checked against /proc as the QEMU driver does)."""
    qemu_dir = state_dir / "qemu"
    pids = []
    for instance_id in list_instance_ids(qemu_dir):
        pid = live_pid(RuntimeLayout.of(qemu_dir, instance_id), instance_id)
        if pid is not None:
            pids.append(pid)
    return pids


def adoptable_pid(host: Host) -> int | None:
    """A live QEMU of ``host`` inside a network namespace other than this process's: the
    host's namespace of an earlier run, kept alive by it. None when it runs no VM."""
    home = netns.pid_netns_inode("self")
    by_namespace: dict[int, list[int]] = {}
    for pid in live_vm_pids(host.state_dir):
        try:
            inode = netns.pid_netns_inode(pid)
        except OSError:  # exited meanwhile
            continue
        if inode != home:
            by_namespace.setdefault(inode, []).append(pid)
    if not by_namespace:
        return None
    chosen = max(by_namespace.values(), key=len)
    for pids in by_namespace.values():
        if pids is not chosen:
            log.warning("host %s: VMs of QEMU pids %s are in another network namespace "
                        "than its others: unreachable from the cluster's LAN",
                        host.name, pids)
    return chosen[0]


# --- the network, made and removed -------------------------------------------------------


def _recorded_subnet(data_dir: Path) -> str:
    try:
        data = json.loads((data_dir / HOSTS_DIR / NETWORK_FILE).read_text())
        return str(data.get("subnet", ""))
    except (OSError, ValueError, AttributeError):
        return ""


@contextlib.contextmanager
def hosts_network(data_dir: Path, count: int, port: int,
                  subnet: str = "") -> Iterator[HostsNetwork]:
    """The hosts' namespaces (attached again where a VM kept one alive), the LAN, and a
    socket of the manager listening on the LAN's gateway ``port``; all removed after.

    What an earlier run left (it was killed: namespaces, an agent) is removed first."""
    require_root(count)
    if shutil.which("ip") is None:
        raise TashiError("the `ip` command (iproute2) is not installed: tashi up --hosts "
                         "makes the hosts' network namespaces with it")
    cid = netns.cluster_id(data_dir)
    private_dir(data_dir / HOSTS_DIR)
    layout = Layout(cid, netns.choose_subnet(cid, count, subnet, _recorded_subnet(data_dir)),
                    count)
    write_private(data_dir / HOSTS_DIR / NETWORK_FILE,
                  json.dumps({"subnet": str(layout.subnet), "id": cid}) + "\n")
    hosts = plan_hosts(data_dir, layout)
    for host in hosts:
        private_dir(host.state_dir)
        _end_stale_agent(host)
    adopt = {host.index: adoptable_pid(host) for host in hosts}
    stale = netns.remove_namespaces(layout.prefix)
    if stale:
        log.info("removed network namespaces left by an earlier tashi up: %s",
                 ", ".join(stale))
    try:
        for host in hosts:
            pid = adopt[host.index]
            if pid is None:
                netns.add_namespace(host.namespace)
            else:
                netns.attach_namespace(host.namespace, pid)
                log.info("host %s: its network namespace %s is the one its running VMs "
                         "kept (QEMU pid %d)", host.name, host.namespace, pid)
        netns.make_lan(layout)
        for host in hosts:
            netns.connect_host(layout, host.index)
        sock = netns.listening_socket_in(layout.lan_ns, layout.gateway, port)
        log.info("hosts %s on %s (bridge %s in network namespace %s, gateway %s)",
                 ", ".join(h.name for h in hosts), layout.subnet, layout.bridge,
                 layout.lan_ns, layout.gateway)
        with sock:
            yield HostsNetwork(layout, hosts, sock)
    finally:
        remove_network(layout)


def remove_network(layout: Layout) -> None:
    """Remove the names of every namespace of the cluster (and so the LAN and its bridge
    once nothing holds them). A failure is logged, not raised: this runs on the way out."""
    try:
        netns.remove_namespaces(layout.prefix)
    except TashiError as exc:
        log.error("%s; remove them with `ip netns del`", exc.message)


def _end_stale_agent(host: Host) -> None:
    """Kill an agent of ``host`` an earlier, killed ``tashi up`` left running."""
    try:
        pid = int(host.pidfile.read_text().strip())
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except (OSError, ValueError):
        host.pidfile.unlink(missing_ok=True)
        return
    if f"TASHI_AGENT_STATE_DIR={host.state_dir}".encode() in environ:
        log.warning("host %s: killing its agent (pid %d) left by an earlier tashi up",
                    host.name, pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
    host.pidfile.unlink(missing_ok=True)


# --- the agents --------------------------------------------------------------------------


@dataclass(frozen=True)
class AgentOptions:
    manager_url: str
    image_dir: Path
    suspend_dir: Path
    driver: str
    accel: str
    heartbeat_interval_s: float
    ca: Path | None = None


def agent_env(host: Host, options: AgentOptions,
              inherited: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of ``host``'s agent: the caller's (less :data:`NOT_INHERITED`)
    and the host's ``TASHI_AGENT_*`` settings."""
    base = dict(os.environ if inherited is None else inherited)
    env = {k: v for k, v in base.items() if k not in NOT_INHERITED}
    env.update({
        "TASHI_AGENT_MANAGER_URL": options.manager_url,
        "TASHI_AGENT_HOST": host.name,
        "TASHI_AGENT_STATE_DIR": str(host.state_dir),
        "TASHI_AGENT_IMAGE_DIR": str(options.image_dir),
        "TASHI_AGENT_SUSPEND_DIR": str(options.suspend_dir),
        "TASHI_AGENT_DRIVER": options.driver,
        "TASHI_AGENT_ACCEL": options.accel,
        "TASHI_AGENT_HEARTBEAT_INTERVAL_S": repr(options.heartbeat_interval_s),
        "TASHI_AGENT_VNC_LISTEN": host.address,
        "TASHI_AGENT_ADDRESS": host.address,
    })
    if options.ca is not None:
        env["TASHI_AGENT_CA"] = str(options.ca)
    else:
        env.pop("TASHI_AGENT_CA", None)
    return env


def agent_argv(host: Host) -> list[str]:
    """``ip netns exec <ns> [setpriv --pdeathsig TERM] python -m tashi.cmd.agent``: ``ip``
    and ``setpriv`` exec, so the PID is the agent's; it gets SIGTERM if ``tashi up``
    dies (SIGKILL included)."""
    guard = ["setpriv", "--pdeathsig", "TERM"] if shutil.which("setpriv") else []
    return ["ip", "netns", "exec", host.namespace, *guard, sys.executable, "-m",
            "tashi.cmd.agent"]


class HostAgents:
    """The agent processes of the hosts: started, watched, stopped."""

    def __init__(self, hosts: list[Host], options: AgentOptions) -> None:
        self.hosts = hosts
        self.options = options
        self._procs: dict[str, asyncio.subprocess.Process] = {}

    async def start(self) -> None:
        for host in self.hosts:
            log_fd = os.open(private_file(host.log_file),
                             os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC)
            try:
                proc = await asyncio.create_subprocess_exec(
                    *agent_argv(host), stdin=asyncio.subprocess.DEVNULL, stdout=log_fd,
                    stderr=asyncio.subprocess.STDOUT, env=agent_env(host, self.options),
                    start_new_session=True)  # a terminal's Ctrl-C is for tashi up only
            except OSError as exc:
                raise TashiError(f"cannot start the agent of host {host.name}: "
                                 f"{exc.strerror or exc}") from exc
            finally:
                os.close(log_fd)
            self._procs[host.name] = proc
            write_private(host.pidfile, f"{proc.pid}\n")
            log.info("host %s: agent pid %d in network namespace %s at %s (log: %s)",
                     host.name, proc.pid, host.namespace, host.address, host.log_file)

    async def watch(self) -> None:
        """Return never; TashiError as soon as an agent exits (cancel it to stop)."""
        waits = {asyncio.create_task(proc.wait(), name=f"agent-{name}"): name
                 for name, proc in self._procs.items()}
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in waits:
                task.cancel()
        task = next(iter(done))
        host = next(h for h in self.hosts if h.name == waits[task])
        raise TashiError(f"the agent of host {host.name} exited ({task.result()}): "
                         f"see {host.log_file}")

    async def stop(self) -> None:
        """SIGTERM to every agent, then a wait; SIGKILL after :data:`STOP_TIMEOUT_S`."""
        running = [p for p in self._procs.values() if p.returncode is None]
        for proc in running:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(asyncio.gather(*(p.wait() for p in running)),
                                   STOP_TIMEOUT_S)
        except TimeoutError:
            for proc in running:
                if proc.returncode is None:
                    log.warning("agent pid %d did not stop in %.0f s: killing it",
                                proc.pid, STOP_TIMEOUT_S)
                    with contextlib.suppress(ProcessLookupError):
                        proc.kill()
            await asyncio.gather(*(p.wait() for p in running))
        for host in self.hosts:
            if host.name in self._procs:
                host.pidfile.unlink(missing_ok=True)
