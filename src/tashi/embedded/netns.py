"""The network of a many-host cluster on one machine (``tashi up --hosts N``).

Every address it uses lives in a network namespace that Tashi makes; nothing is added
to the machine's own (root) namespace::

    tashi-<id>-lan    the cluster's LAN: bridge t<id>br with the gateway, 10.A.B.1/24
    tashi-<id>-h<i>   host h<i>: lo, and eth0 = 10.A.B.(10+i)/24, a veth whose other
                      end (t<id>h<i>) is a port of the bridge in the LAN namespace

The manager, in the root namespace, listens in the LAN namespace too: a socket belongs
to the namespace of the thread that made it (:func:`listening_socket_in`). The hosts
have no default route: from a host (and its VMs' user-mode NICs) only the LAN and the
host's own loopback are reachable.

``<id>`` is a short hash of the data directory, so clusters of different directories
never share a name; the subnet comes from it too (or is given), avoiding any subnet
routed in another namespace. Every function is idempotent: what exists is kept or
made again, what is gone is not an error. All changes are made with ``ip`` (iproute2).
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import socket
import subprocess
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from tashi.domain.errors import Conflict, InvalidInput, TashiError

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")  # where ``ip netns`` keeps the namespaces it names
CLONE_NEWNET = 0x40000000
HOST_IFACE = "eth0"  # a host's end of its veth, in the host's own namespace
FIRST_HOST = 10  # host i is the subnet's address 10 + i; .1 is the gateway
IFNAMSIZ = 15  # the kernel's limit of an interface name, without the NUL
_ROUTE_TYPES = frozenset({"unicast", "local", "broadcast", "multicast", "throw",
                          "unreachable", "prohibit", "blackhole", "nat", "anycast"})


def cluster_id(data_dir: Path) -> str:
    """Six hex digits of the data directory's absolute path: stable, and short enough
    for interface names (``t<id>h<i>``, at most 15 characters)."""
    return hashlib.sha256(str(data_dir.absolute()).encode()).hexdigest()[:6]


def namespace_prefix(cid: str) -> str:
    """Every namespace of cluster ``cid`` is named with this prefix."""
    return f"tashi-{cid}-"


def derived_subnet(cid: str, attempt: int = 0) -> IPv4Network:
    """The ``attempt``-th candidate subnet of cluster ``cid``: 10.A.B.0/24, A in
    16..247 (clear of the often used 10.0-10.15), A and B from the id."""
    n = (int(cid, 16) + attempt) % (1 << 24)
    return IPv4Network(f"10.{16 + (n >> 8) % 232}.{n & 0xFF}.0/24")


def parse_subnet(text: str, hosts: int) -> IPv4Network:
    """``text`` as an IPv4 network with room for ``hosts`` hosts; InvalidInput if not."""
    try:
        net = IPv4Network(text.strip(), strict=True)
    except ValueError as exc:
        raise InvalidInput(f"subnet {text!r} is not an IPv4 network such as "
                           f"10.20.30.0/24: {exc}") from None
    if net.num_addresses < FIRST_HOST + hosts + 2:
        raise InvalidInput(f"subnet {net} is too small for {hosts} hosts (they are "
                           f".{FIRST_HOST + 1} to .{FIRST_HOST + hosts}): give a /24")
    return net


@dataclass(frozen=True)
class Layout:
    """The names and addresses of cluster ``cid``'s network. Pure."""

    cid: str
    subnet: IPv4Network
    hosts: int

    def __post_init__(self) -> None:
        if len(self.lan_port(self.hosts)) > IFNAMSIZ:
            raise InvalidInput(f"too many hosts ({self.hosts}) for interface names")
        if self.subnet.num_addresses < FIRST_HOST + self.hosts + 2:
            raise InvalidInput(f"subnet {self.subnet} is too small for {self.hosts} hosts")

    @property
    def prefix(self) -> str:
        return namespace_prefix(self.cid)

    @property
    def lan_ns(self) -> str:
        return f"{self.prefix}lan"

    @property
    def bridge(self) -> str:
        return f"t{self.cid}br"

    @property
    def gateway(self) -> IPv4Address:
        return self.subnet[1]

    def host_name(self, index: int) -> str:
        return f"h{index}"

    def host_ns(self, index: int) -> str:
        return f"{self.prefix}h{index}"

    def address(self, index: int) -> IPv4Address:
        return self.subnet[FIRST_HOST + index]

    def lan_port(self, index: int) -> str:
        """The LAN end of host ``index``'s veth, a port of the bridge."""
        return f"t{self.cid}h{index}"


# --- ip ----------------------------------------------------------------------------------


def _run_ip(args: list[str], ns: str | None) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *(["-n", ns] if ns else []), *args]
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=30,
                              check=False, stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise TashiError("the `ip` command (iproute2) is not installed: tashi up "
                         "--hosts makes the hosts' network namespaces with it") from None
    except subprocess.TimeoutExpired:
        raise TashiError(f"`{' '.join(argv)}` did not finish in 30 s") from None


def ip(*args: str, ns: str | None = None, what: str) -> str:
    """``ip [-n NS] ARGS``'s output; TashiError "cannot WHAT: <ip's reason>" if it fails."""
    result = _run_ip(list(args), ns)
    if result.returncode != 0:
        lines = (result.stderr or result.stdout).strip().splitlines()
        reason = lines[-1] if lines else f"exit {result.returncode}"
        where = f"ip -n {ns} " if ns else "ip "
        raise TashiError(f"cannot {what}: {reason} ({where}{' '.join(args)})")
    return result.stdout


def link_exists(name: str, ns: str) -> bool:
    return _run_ip(["link", "show", "dev", name], ns).returncode == 0


def delete_link(name: str, ns: str) -> None:
    """Delete interface ``name`` of ``ns`` (a veth: both ends) if it is there."""
    if not link_exists(name, ns):
        return
    result = _run_ip(["link", "del", "dev", name], ns)
    if result.returncode != 0 and link_exists(name, ns):  # else gone meanwhile: fine
        raise TashiError(f"cannot remove interface {name} of network namespace {ns}: "
                         f"{result.stderr.strip()}")


# --- namespaces --------------------------------------------------------------------------


def namespaces(prefix: str = "") -> list[str]:
    """The named network namespaces (``ip netns list``) starting with ``prefix``."""
    try:
        return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))
    except FileNotFoundError:
        return []


def namespace_exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def add_namespace(name: str) -> None:
    if not namespace_exists(name):
        ip("netns", "add", name, what=f"create network namespace {name}")


def attach_namespace(name: str, pid: int) -> None:
    """Name process ``pid``'s network namespace ``name`` again (``ip netns attach``)."""
    if namespace_exists(name):
        if netns_inode(name) == pid_netns_inode(pid):
            return
        remove_namespace(name)
    ip("netns", "attach", name, str(pid),
       what=f"attach network namespace {name} of process {pid}")


def remove_namespace(name: str) -> None:
    """Remove the name ``name``; the namespace lives on while a process is inside."""
    if namespace_exists(name):
        ip("netns", "del", name, what=f"remove network namespace {name}")


def remove_namespaces(prefix: str) -> list[str]:
    """Remove every namespace named with ``prefix``; the names removed."""
    gone = namespaces(prefix)
    for name in gone:
        remove_namespace(name)
    return gone


def netns_inode(name: str) -> int:
    return os.stat(NETNS_DIR / name).st_ino


def pid_netns_inode(pid: int | str) -> int:
    """The inode of process ``pid``'s network namespace (``self``: this process's)."""
    return os.stat(f"/proc/{pid}/ns/net").st_ino


# --- subnets -----------------------------------------------------------------------------


def routed_subnets(skip_prefix: str) -> list[tuple[IPv4Network, str]]:
    """Every IPv4 subnet routed (main table, default routes aside) in the root namespace
    and in each named namespace whose name does not start with ``skip_prefix``, with
    where: ``(10.1.2.0/24, "namespace foo")``."""
    found = [(net, "the root namespace") for net in _routes(None)]
    for ns in namespaces():
        if not ns.startswith(skip_prefix):
            found += [(net, f"network namespace {ns}") for net in _routes(ns)]
    return found


def _routes(ns: str | None) -> list[IPv4Network]:
    result = _run_ip(["-4", "route", "show"], ns)
    if result.returncode != 0:
        return []  # a namespace removed meanwhile, or unreadable: nothing routed there
    nets = []
    for line in result.stdout.splitlines():
        words = line.split()
        if words and words[0] in _ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default":
            continue
        try:
            nets.append(IPv4Network(words[0], strict=False))
        except ValueError:
            continue
    return nets


def _overlap(net: IPv4Network,
             used: Iterable[tuple[IPv4Network, str]]) -> tuple[IPv4Network, str] | None:
    return next(((other, where) for other, where in used if net.overlaps(other)), None)


def choose_subnet(cid: str, hosts: int, given: str = "", recorded: str = "") -> IPv4Network:
    """The subnet of cluster ``cid``: ``given`` (Conflict if routed elsewhere), else the
    one it had (``recorded``) if still free, else the first free derived candidate."""
    used = routed_subnets(namespace_prefix(cid))
    if given:
        net = parse_subnet(given, hosts)
        clash = _overlap(net, used)
        if clash:
            raise Conflict(f"subnet {net} overlaps {clash[0]}, routed in {clash[1]}: "
                           "give another with --subnet (TASHI_SUBNET)")
        return net
    if recorded:
        try:
            had: IPv4Network | None = parse_subnet(recorded, hosts)
        except InvalidInput:
            had = None
        if had is not None:
            clash = _overlap(had, used)
            if clash is None:
                return had
            log.warning("subnet %s of the cluster's hosts now overlaps %s (routed in %s): "
                        "choosing another one", had, clash[0], clash[1])
    for attempt in range(1024):
        net = derived_subnet(cid, attempt)
        if _overlap(net, used) is None:
            return net
    raise Conflict("found no free 10.x.y.0/24 subnet for the hosts: give one with --subnet")


# --- the LAN and the hosts' links --------------------------------------------------------


def make_lan(layout: Layout) -> None:
    """The LAN namespace with its bridge holding the gateway address, up."""
    ns, bridge = layout.lan_ns, layout.bridge
    add_namespace(ns)
    ip("link", "set", "lo", "up", ns=ns, what=f"bring up lo in network namespace {ns}")
    if not link_exists(bridge, ns):
        ip("link", "add", bridge, "type", "bridge", ns=ns,
           what=f"create bridge {bridge} in network namespace {ns}")
    ip("addr", "replace", f"{layout.gateway}/{layout.subnet.prefixlen}", "dev", bridge,
       ns=ns, what=f"give bridge {bridge} (network namespace {ns}) {layout.gateway}")
    ip("link", "set", bridge, "up", ns=ns, what=f"bring up bridge {bridge} in {ns}")


def connect_host(layout: Layout, index: int) -> None:
    """Host ``index``'s namespace (made or attached already) joined to the LAN: lo up, a
    new veth pair (an old one is removed), its address on the host's end."""
    ns, lan, port = layout.host_ns(index), layout.lan_ns, layout.lan_port(index)
    ip("link", "set", "lo", "up", ns=ns, what=f"bring up lo in network namespace {ns}")
    delete_link(HOST_IFACE, ns)  # its LAN end died with an old LAN namespace, or not yet
    delete_link(port, lan)
    ip("link", "add", HOST_IFACE, "netns", ns, "type", "veth", "peer", "name", port,
       "netns", lan, what=f"create veth {HOST_IFACE} (namespace {ns}) - {port} "
       f"(namespace {lan})")
    address = f"{layout.address(index)}/{layout.subnet.prefixlen}"
    ip("addr", "replace", address, "dev", HOST_IFACE, ns=ns,
       what=f"give {HOST_IFACE} of network namespace {ns} the address {address}")
    ip("link", "set", HOST_IFACE, "up", ns=ns, what=f"bring up {HOST_IFACE} in {ns}")
    ip("link", "set", port, "master", layout.bridge, "up", ns=lan,
       what=f"add {port} to bridge {layout.bridge} in network namespace {lan}")


# --- a socket in a namespace -------------------------------------------------------------


def _setns(fd: int, what: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"setns into {what}: {os.strerror(err)}")


def listening_socket_in(ns: str, address: IPv4Address | str, port: int) -> socket.socket:
    """A TCP socket listening on ``address:port`` inside network namespace ``ns``.

    Made by a short-lived thread that enters ``ns`` (setns(2); Python 3.11 has no
    ``os.setns``), so no other thread of the process ever changes namespace; the socket
    stays in ``ns`` for its life, wherever it is used."""
    made: list[socket.socket] = []
    failed: list[OSError] = []

    def make() -> None:
        try:
            with open("/proc/thread-self/ns/net", "rb") as home, \
                    open(NETNS_DIR / ns, "rb") as target:
                _setns(target.fileno(), f"network namespace {ns}")
                try:
                    made.append(socket.create_server((str(address), port)))
                finally:
                    _setns(home.fileno(), "this process's network namespace")
        except OSError as exc:  # handed to the caller's thread
            failed.append(exc)

    thread = threading.Thread(target=make, name=f"listen-in-{ns}", daemon=True)
    thread.start()
    thread.join()
    if failed or not made:
        exc = failed[0] if failed else OSError(0, "the thread that makes it failed")
        reason = os.strerror(exc.errno) if exc.errno else str(exc.strerror or exc)
        raise TashiError(f"cannot listen on {address}:{port} in network namespace {ns}: "
                         f"{reason[:1].lower()}{reason[1:]}") from exc
    return made[0]

