"""Hosts: registration (by an admin, or by an agent holding the join token),
heartbeats, usage, and liveness (a host that stops heartbeating orphans its VMs)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from tashi import __version__
from tashi.common.clock import Clock
from tashi.common.secrets import hash_token, new_token
from tashi.domain.capabilities import HostCapabilities
from tashi.domain.claims import Claim
from tashi.domain.errors import Conflict, Forbidden, NotFound
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.models import Host, Instance
from tashi.domain.names import check_name
from tashi.domain.resources import Resources
from tashi.domain.states import HOLDS_RESOURCES, HostState
from tashi.domain.versions import version_state
from tashi.identity.jointokens import JoinTokens
from tashi.identity.loginlimit import LoginLimiter
from tashi.manager.ha import HaService
from tashi.manager.instances import InstanceService
from tashi.manager.listing import EVERY_HOST, HostQuery
from tashi.manager.notifier import PENDING, Notifier
from tashi.scheduler.fit import how_many
from tashi.scheduler.model import HostSnapshot, PlacementRequest
from tashi.scheduler.records import group_key
from tashi.store.base import Store
from tashi.store.binding import HostUsage

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class HostView:
    host: Host
    up: bool
    used: Resources
    instances: int
    groups: frozenset[str] = frozenset()  # group keys (see group_key) of its instances


@dataclass(frozen=True, slots=True)
class HostLayout:
    view: HostView
    instances: tuple[Instance, ...]  # those holding resources on the host


class HostService:
    def __init__(self, store: Store, clock: Clock, notifier: Notifier, *,
                 instances: InstanceService, heartbeat_timeout_s: float,
                 join_token: str | None, version: str = __version__) -> None:
        """``version``: the manager's own (agents of another are not trusted with new
        instances: :mod:`tashi.domain.versions`)."""
        self._store = store
        self._version = version
        self._instances = instances
        self._clock = clock
        self._notifier = notifier
        self._timeout = timedelta(seconds=heartbeat_timeout_s)
        self.join_tokens = JoinTokens(store, join_token)
        self.join_limiter = LoginLimiter(clock, what="joins", subject="host")
        self.started = clock.now()  # no host is down sooner than its timeout after it
        self._beats: dict[str, Host] = {}  # each host as its last heartbeat here left it

    def register(self, name: str, by: str = "an admin") -> tuple[Host, str]:
        """An admin registers a host; returns it with its agent's credential."""
        host = self._store.create_host(check_name("host", name))
        self._event(name, f"host {name} registered by {by}", EventKind.HOST_REGISTERED, by)
        log.info("host %s: registered", name)
        return host, self._mint_credential(name)

    def local_credential(self, name: str) -> str:
        """For an embedded cluster's own agent: register the host if new, then mint."""
        try:
            self._store.get_host(check_name("host", name))
        except NotFound:
            return self.register(name)[1]
        return self._mint_credential(name)

    def join(self, name: str, join_token: str, address: str = "unknown") -> str:
        """An agent registers itself (auto registration) and gets its credential.

        The join token admits new hosts only: a host that already holds a credential
        (registered by an admin, or joined before) is not handed another one, or
        anyone with the cluster-wide join token could take over its identity and its
        VMs. An admin gives such a host a new credential (:meth:`reissue`). Wrong join
        tokens are rate limited per host name and per client address, like logins.
        """
        check_name("host", name)
        self.join_limiter.check(name, address)
        try:
            self.join_tokens.check(name, join_token)
        except Forbidden:
            self.join_limiter.failed(name, address)
            raise
        try:
            self._store.get_host(name)
        except NotFound:
            self._store.create_host(name)
            self._event(name, f"host {name} joined with the join token", EventKind.HOST_JOINED,
                        f"agent of host {name}")
            log.info("host %s: joined with the join token from %s", name, address)
            return self._mint_credential(name)
        if self._store.list_tokens(host=name):
            log.warning("host %s: join from %s refused: the host already has a credential",
                        name, address)
            raise Conflict(f"host {name} is already registered and holds a credential; "
                           f"an admin can issue a new one (tashi host credential {name})")
        self._event(name, f"host {name} re-joined with the join token", EventKind.HOST_JOINED,
                    f"agent of host {name}")
        log.info("host %s: re-joined with the join token from %s (it held no credential)",
                 name, address)
        return self._mint_credential(name)

    def reissue(self, name: str, by: str) -> str:
        """A new credential for the host's agent; every earlier one is revoked."""
        self._store.get_host(check_name("host", name))
        revoked = self._store.list_tokens(host=name)
        for record in revoked:
            self._store.delete_token(record.id)
        token = self._mint_credential(name)
        self._event(name, f"host {name}: agent credential reissued by {by} "
                    f"({len(revoked)} revoked)", EventKind.HOST_CREDENTIAL, by)
        log.info("host %s: agent credential reissued by %s (%d revoked)", name, by,
                 len(revoked))
        return token

    def _mint_credential(self, host: str) -> str:
        token = new_token()
        self._store.add_token(hash_token(token), f"agent-{host}", host=host)
        return token

    def heartbeat(self, name: str, *, cores: int, memory_mib: int, version: str,
                  hypervisor: str = "", disk_gib: int = 0,
                  capabilities: HostCapabilities | None = None) -> Host:
        """Record host ``name``'s heartbeat; a host back up, or whose capacity or
        capabilities changed, wakes the scheduler."""
        before = self._beats.get(name) or self._store.get_host(name)
        host = self._store.record_heartbeat(name, cores=cores, memory_mib=memory_mib,
                                            disk_gib=disk_gib, agent_version=version,
                                            at=self._clock.now(), hypervisor=hypervisor,
                                            capabilities=capabilities)
        self._beats[name] = host
        change = version_state(host.state, self._version, before.agent_version, version)
        if change is not None:
            host = self._beats[name] = self.set_state(name, change[0],
                                                      f"the manager ({change[1]})")
        if host.silent:
            self.set_silent(name, False, f"host {name} heartbeats again")
        if before.capabilities != host.capabilities:
            log.info("host %s: capabilities now %s", name, _said(host.capabilities))
        if (not self.is_up(before) or before.capacity != host.capacity
                or before.capabilities != host.capabilities):
            self._notifier.bump(PENDING)  # the scheduler may now place more
        return host

    def set_silent(self, name: str, silent: bool, why: str) -> int:
        """Mark host ``name`` silent (its heartbeats stopped) or back; return how many of
        its instances changed state (Orphaned while it is silent, their intent kept)."""
        changes = self._store.set_host_silent(name, silent, why)
        self._beats.pop(name, None)
        for old, new in changes:
            self._instances.changed(old, new, why)
        kind = EventKind.HOST_SILENT if silent else EventKind.HOST_BACK
        self._event(name, f"host {name}: {'silent' if silent else 'back'} ({why})", kind,
                    "manager")
        return len(changes)

    def _event(self, host: str, message: str, kind: EventKind, actor: str) -> None:
        self._store.add_event(message, host=host, facts=EventFacts(kind, actor))

    def get(self, name: str) -> Host:
        """Host ``name``; NotFound if no such host is registered."""
        return self._store.get_host(name)

    def is_up(self, host: Host) -> bool:
        if host.last_heartbeat is None:
            return False
        since = max(host.last_heartbeat, self.started)  # a restarted manager waits a beat
        return self._clock.now() - since <= self._timeout

    def detail(self, name: str) -> tuple[HostView, list[Claim]]:
        """Host ``name`` with what is used of it, and the claims on it; NotFound if no
        such host is registered."""
        for v in self.views():
            if v.host.name == name:
                return v, self._store.list_claims(host=name)
        raise NotFound(f"host {name} not found")

    def views(self, query: HostQuery = EVERY_HOST) -> list[HostView]:
        """The hosts meeting ``query`` (default: every host), by name, with what is used
        of each."""
        usage = self._store.usage_by_host()
        idle = HostUsage()
        views = []
        for h in self._store.list_hosts(states=query.states, after=query.after,
                                        limit=query.limit):
            u = usage.get(h.name, idle)
            views.append(HostView(h, self.is_up(h), u.used, u.instances,
                                  frozenset(group_key(o, g) for o, g in u.groups)))
        return views

    def set_state(self, name: str, state: HostState, by: str) -> Host:
        before = self._store.get_host(name)
        host = self._store.set_host_state(name, state)
        if before.state is not state:
            self._event(name, f"host {name}: {before.state} -> {state} by {by}",
                        EventKind.HOST_STATE, by)
            log.info("host %s: %s -> %s by %s", name, before.state, state, by)
            self._notifier.bump(PENDING)
        return host

    def reserve(self, name: str, users: Sequence[str], by: str) -> Host:
        """Reserve host ``name`` for ``users`` (empty: for anyone again)."""
        before = self._store.get_host(name)
        host = self._store.set_host_reservation(
            name, [check_name("user", u) for u in users])
        if before.reserved_for != host.reserved_for:
            who = ", ".join(host.reserved_for) or "anyone"
            self._event(name, f"host {name}: reserved for {who} by {by}",
                        EventKind.HOST_RESERVED, by)
            log.info("host %s: reserved for %s by %s", name, who, by)
            self._notifier.bump(PENDING)
        return host

    def slots(self, size: Resources, owner: str = "") -> list[tuple[str, int, str]]:
        """How many more instances of ``size`` (of ``owner``) fit on each host, and what
        limits it: :func:`tashi.scheduler.fit.how_many`, the rule binding uses."""
        request = PlacementRequest(0, "slots", size, owner=owner)
        out = []
        for v in self.views():
            snapshot = HostSnapshot(v.host.name, v.up, v.host.state, v.host.capacity, v.used,
                                    v.instances, reserved_for=frozenset(v.host.reserved_for))
            n, why = how_many(snapshot, request)
            out.append((v.host.name, n, why))
        return out

    def layout(self) -> list[HostLayout]:
        """Every host with its usage and the instances holding resources on it."""
        views = self.views()
        holding = {i.id: i for i in self._store.list_instances(states=HOLDS_RESOURCES)}
        on: dict[str, list[Instance]] = {}
        for c in self._store.list_claims():  # by host, then instance
            if c.instance_id in holding:
                on.setdefault(c.host, []).append(holding[c.instance_id])
        return [HostLayout(v, tuple(on.get(v.host.name, ()))) for v in views]

    def down_hosts(self) -> list[str]:
        """Hosts that stopped heartbeating and are not marked silent yet."""
        return [h.name for h in self._store.list_hosts()
                if h.last_heartbeat is not None and not h.silent and not self.is_up(h)]


def _said(caps: HostCapabilities | None) -> str:
    """``qemu 8.2.2 (tcg), NIC models e1000, virtio, ...``, for the log."""
    if caps is None:
        return "unreported"
    f = caps.facts
    return (f"{f.hypervisor} {f.version or '?'} ({f.accelerator or 'no accelerator'}), "
            f"NIC models {', '.join(sorted(f.nic_models))}, network kinds "
            f"{', '.join(sorted(f.network_kinds))}, abilities "
            f"{', '.join(sorted(caps.abilities)) or 'none'}")


async def liveness_loop(hosts: HostService, interval_s: float,
                        ha: HaService | None = None) -> None:
    """Mark hosts that stopped heartbeating silent: their VMs show Orphaned, what their
    users asked is kept, and both end with the host's next heartbeat. With ``ha``, the
    HA instances of silent hosts past their lease are restarted elsewhere."""
    while True:
        try:
            for name in await asyncio.to_thread(hosts.down_hosts):
                n = await asyncio.to_thread(hosts.set_silent, name, True,
                                            f"host {name} stopped heartbeating")
                log.warning("host %s: silent; %d instance(s) orphaned", name, n)
            if ha is not None:
                await asyncio.to_thread(ha.sweep)
        except Exception:
            log.exception("liveness check failed; retrying")
        await asyncio.sleep(interval_s)


