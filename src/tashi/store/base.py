"""The store contract: the one source of truth of a Tashi cluster.

Every implementation (SQL on sqlite or PostgreSQL, :mod:`tashi.store.sql`; one pickle
file, :mod:`tashi.store.picklefile`) passes the same contract suite
(``tests/integration/test_store_contract.py``). Open one by URL with
:func:`tashi.store.open_store`. Rules:

- Methods are synchronous and thread-safe; the API calls them from a thread pool.
- Each method is atomic: it either does all it says or nothing (no half-created rows).
- Spec writes of an instance carry the generation the caller read; a stale one raises
  :class:`~tashi.domain.errors.Conflict` and changes nothing. Status writes (what
  agents observed, what the manager's controllers note) never check nor bump it.
- An instance's ``state`` is never written: the store derives it
  (:func:`tashi.domain.derive.shown_state`) from the spec, the status and the bound
  host's ``silent`` flag, in the same transaction as every write of one of them.
- Lookups of a missing record raise :class:`~tashi.domain.errors.NotFound`;
  duplicate names raise :class:`~tashi.domain.errors.Conflict`.
- Token hashes are stored, never tokens; password hashes, never passwords.
- Ids are never reused: a deleted instance's id (which its events still name) stays
  taken, also across :meth:`Store.snapshot` / :meth:`Store.restore`.
- Datetimes go in and come out timezone-aware; they come out in UTC.
- An instance claims room on a host (:mod:`tashi.domain.claims`) exactly while
  :func:`~tashi.domain.claims.wanted_claims` says so; hosts' usage is their claims.
- While a fence is set (:mod:`tashi.store.fencing`), every write first checks, in its
  own transaction, that the fence's lease still holds; else LeaseLost, nothing written.
- Batches (:meth:`Store.create_instances`, :meth:`Store.bind_instances`) run in one
  transaction: a batch of creations is all or nothing; each binding of a batch is
  applied, or refused with nothing changed, after checks made inside the transaction.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from tashi.domain.accounting import UsageClosed
from tashi.domain.capabilities import HostCapabilities
from tashi.domain.claims import Claim
from tashi.domain.displays import DesiredDisplay, Display, Screenshot
from tashi.domain.errors import InvalidInput
from tashi.domain.events import NO_FACTS, Event, EventFacts, EventKind
from tashi.domain.leases import Lease
from tashi.domain.models import (
    Host,
    Image,
    ImageFormat,
    Instance,
    InstanceSpec,
    InstanceStatus,
    Network,
    NetworkKind,
    NewInstance,
    Principal,
    User,
    Visibility,
)
from tashi.domain.quotas import Quota, QuotaField
from tashi.domain.states import HostState, InstanceState, Role
from tashi.domain.usage import UsageReport, UsageSample
from tashi.domain.usage_reports import UsagePage, UsageQuery
from tashi.store.binding import Binding, BindResult, HostUsage


@dataclass(frozen=True, slots=True)
class Idempotency:
    """A create's ``Idempotency-Key``, per owner, and what the request was (a hash):
    the same key again returns what that create made (see
    :meth:`Store.create_instances`)."""

    owner: str
    key: str
    fingerprint: str


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to record (see :meth:`Store.add_events`)."""

    message: str
    instance_id: int | None = None
    host: str | None = None
    facts: EventFacts = NO_FACTS


@dataclass(frozen=True, slots=True)
class NewImage:
    name: str
    owner: str
    format: ImageFormat
    size_bytes: int
    virtual_size_bytes: int
    visibility: Visibility = Visibility.PRIVATE
    min_memory_mib: int = 0  # the least memory its guest boots with (0: not known)


@dataclass(frozen=True, slots=True)
class TokenRecord:
    id: int
    token_hash: str
    name: str
    user: str | None  # the user it authenticates, or
    host: str | None  # the host whose agent it authenticates
    created_at: datetime
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The whole state of a store as records: what export writes and import loads.

    Records are ordered by id, settings by key, consoles (an instance's id and its
    console tail) by instance id. ``next_instance_id`` and ``next_event_id`` are the
    ids the store would give next: past every id ever used, deleted ones included.
    """

    users: tuple[User, ...]
    tokens: tuple[TokenRecord, ...]
    settings: tuple[tuple[str, str], ...]  # (key, value), ordered by key
    hosts: tuple[Host, ...]
    images: tuple[Image, ...]
    networks: tuple[Network, ...]
    instances: tuple[Instance, ...]
    consoles: tuple[tuple[int, str], ...]  # (instance id, text), ordered by id
    events: tuple[Event, ...]
    next_instance_id: int
    next_event_id: int
    passwords: tuple[tuple[str, str], ...] = ()  # (user name, argon2 hash), by user name
    epoch: int = 0  # the store's epoch (see Store.epoch)


class Store(Protocol):
    # --- users and credentials ---------------------------------------------------
    def create_user(self, name: str, role: Role, source: str = "local") -> User:
        """Create a user of Tashi's own table (``local``) or one a user source vouches
        for (its name: ``ldap``, ``system``). Conflict if the name is taken."""
        ...
    def set_user_role(self, name: str, role: Role) -> User:
        """Change the user's role. Conflict (changing nothing) if that would leave no admin."""
        ...
    def get_user(self, name: str) -> User: ...
    def list_users(self) -> list[User]: ...
    def add_token(
        self, token_hash: str, name: str, *, user: str | None = None,
        host: str | None = None, expires_at: datetime | None = None,
    ) -> TokenRecord:
        """Store a credential for exactly one of ``user`` or ``host``."""
        ...
    def principal_for_token(self, token_hash: str, now: datetime) -> Principal | None:
        """Who holds this token, or None if unknown or expired."""
        ...
    def delete_user(self, name: str) -> None:
        """Delete the user with its password and tokens. Conflict (changing nothing) if
        it is the last admin or still owns instances (the message says how many)."""
        ...
    def set_password_hash(self, name: str, password_hash: str | None) -> None:
        """Keep ``password_hash`` (an argon2 hash, never a password) for the user;
        None removes it (the user then has tokens only)."""
        ...
    def get_password_hash(self, name: str) -> str | None:
        """The user's password hash; None if the user has no password."""
        ...
    def list_tokens(self, *, user: str | None = None,
                    host: str | None = None) -> list[TokenRecord]:
        """The tokens of ``user`` (or of ``host``; all if neither), ordered by id."""
        ...
    def get_token(self, token_id: int) -> TokenRecord: ...
    def delete_token(self, token_id: int) -> TokenRecord:
        """Revoke the token: it authenticates no one from now on. The record it was."""
        ...
    def get_setting(self, key: str) -> str | None: ...
    def put_setting(self, key: str, value: str) -> None: ...

    # --- hosts -----------------------------------------------------------------------
    def create_host(self, name: str, *, cores: int = 0, memory_mib: int = 0) -> Host: ...
    def get_host(self, name: str) -> Host: ...
    def list_hosts(self, *, states: Iterable[HostState] | None = None,
                   after: str | None = None, limit: int | None = None) -> list[Host]:
        """The hosts in ``states`` (default: any), ordered by name (bytewise, on every
        store): a keyset page of those named after ``after``, at most ``limit``."""
        ...
    def record_heartbeat(
        self, name: str, *, cores: int, memory_mib: int, agent_version: str, at: datetime,
        hypervisor: str = "", disk_gib: int = 0, capabilities: HostCapabilities | None = None,
    ) -> Host:
        """Record a heartbeat: the host's resources and ``capabilities`` as its agent
        reports them now (None: it reports none, as older agents; the last ones are
        forgotten, not kept stale)."""
        ...
    def set_host_state(self, name: str, state: HostState) -> Host: ...
    def set_host_reservation(self, name: str, users: Sequence[str]) -> Host:
        """Reserve the host for ``users`` (sorted, without duplicates); empty: for anyone."""
        ...
    def usage_by_host(self) -> dict[str, HostUsage]:
        """The sum of the claims on each host, by host name (hosts with no claim are
        left out); computed by the store, without reading every instance out."""
        ...
    def epoch(self) -> int:
        """The store's epoch: moved on by every write of an instance, never back (but
        by restoring an older backup). Each desired state carries it; agents refuse
        one of an epoch below what they acted on."""
        ...
    def list_claims(self, *, host: str | None = None,
                    instance_id: int | None = None) -> list[Claim]:
        """The claims (:mod:`tashi.domain.claims`) on ``host`` and/or of ``instance_id``
        (default: all), by host, instance and role. An instance's claims change in the
        same transaction as whatever changes them (its binding, state or size)."""
        ...
    def host_capabilities(self) -> list[HostCapabilities | None]:
        """The capabilities of the registered hosts, each distinct one once (None: some
        host never reported any); [] when there are no hosts."""
        ...

    # --- images and networks -----------------------------------------------------------
    def create_image(self, image: NewImage) -> Image: ...
    def get_image(self, name: str) -> Image: ...
    def list_images(self) -> list[Image]: ...
    def delete_image(self, name: str) -> None:
        """Delete the image's record; Conflict (deleting nothing) while any instance, in
        any state, has a disk on it."""
        ...
    def create_network(self, name: str, kind: NetworkKind) -> Network: ...
    def get_network(self, name: str) -> Network: ...
    def list_networks(self) -> list[Network]: ...
    def delete_network(self, name: str) -> None:
        """Remove network ``name``: NotFound if there is none; Conflict, changing nothing,
        while an instance (any state) has a NIC on it."""
        ...

    # --- instances -----------------------------------------------------------------------
    def create_instance(self, new: NewInstance) -> Instance:
        """Create it Pending, generation 1. Names are unique per owner."""
        ...
    def create_instances(self, news: Sequence[NewInstance], *, event: str | None = None,
                         idempotency: Idempotency | None = None) -> list[Instance]:
        """Create them all (in order), each with the event ``event`` if given, or none:
        one duplicate name (in the store or in ``news``) is a Conflict naming it, and so
        is an image they may not use now (:func:`tashi.store.imageuse.check_image_use`:
        a persistent disk needs its image to itself); an image that does not exist is
        InvalidInput. With ``idempotency``, a key a create used already returns what it
        made (those still there), creating nothing; the key of another request is a
        Conflict."""
        ...
    def get_instance(self, instance_id: int) -> Instance: ...
    def list_instances(
        self, *, owner: str | None = None, host: str | None = None,
        states: Iterable[InstanceState] | None = None, name: str | None = None,
        ids: Collection[int] | None = None, name_prefix: str | None = None,
        network: str | None = None, after: int | None = None, limit: int | None = None,
    ) -> list[Instance]:
        """Instances matching every given filter, ordered by id: ``name`` is the whole
        name, ``name_prefix`` its start (case-sensitive), ``network`` one of its NICs'.
        A keyset page: those of an id above ``after``, at most ``limit`` of them."""
        ...
    def count_instances(self) -> dict[InstanceState, int]:
        """How many instances are in each state (states with none left out), counted by
        the store without reading the instances out."""
        ...
    def update_instance(
        self, instance_id: int, *, generation: int, spec: InstanceSpec,
        status: InstanceStatus | None = None,
    ) -> Instance:
        """Change the spec (bumping the generation), optionally the status too."""
        ...
    def start_migration(self, instance_id: int, *, generation: int, spec: InstanceSpec,
                        status: InstanceStatus, per_host: int = 2) -> Instance:
        """Write ``spec`` (with a migration) as :meth:`update_instance` does, once its
        target host has room for it and neither host has ``per_host`` migrations under
        way (Conflict saying why not), checked in the writing transaction."""
        ...
    def set_instance_status(self, instance_id: int, status: InstanceStatus) -> Instance:
        """Record an observation; no generation check, no bump."""
        ...
    def set_instance_statuses(self, statuses: Sequence[tuple[int, InstanceStatus, int]],
                              ) -> list[Instance | None]:
        """Record each (instance, status, the generation the status was made from) in one
        transaction (an agent's report of many instances), unless the instance's spec
        changed since (its generation moved: a migration's switch, a user's action): that
        one is left out (None; the agent's next report applies again), so a status made
        from what was read never undoes a write that came between. The instances after,
        in order. NotFound (nothing written) if one is gone."""
        ...
    def set_host_silent(self, name: str, silent: bool,
                        why: str = "") -> list[tuple[Instance, Instance]]:
        """Mark a host silent (its heartbeats stopped) or not, re-deriving the states of
        its instances; return those whose state changed, before and after (with ``why``
        as their status message)."""
        ...
    def delete_instance(self, instance_id: int, *, generation: int) -> None: ...
    def bind_instances(self, bindings: Sequence[Binding]) -> list[BindResult]:
        """Apply each binding (Pending -> Activating on its host, generation bumped,
        an event) or refuse it (see :func:`tashi.store.binding.refusal`), in order,
        checked against the hosts' usage inside the one write transaction: concurrent
        batches never overcommit a host. One result per binding, in order."""
        ...

    # --- consoles and events -------------------------------------------------------------
    def put_console(self, instance_id: int, text: str) -> None:
        """Replace the stored tail of the instance's serial console."""
        ...
    def get_console(self, instance_id: int) -> str: ...
    def add_event(self, message: str, *, instance_id: int | None = None,
                  host: str | None = None, facts: EventFacts = NO_FACTS) -> Event: ...
    def add_events(self, events: Sequence[NewEvent]) -> None:
        """Record ``events`` in one transaction, in order."""
        ...
    def list_events(
        self, *, instance_id: int | None = None, host: str | None = None,
        user: str | None = None, kind: EventKind | None = None,
        since: datetime | None = None, after_id: int | None = None, limit: int = 100,
    ) -> Sequence[Event]:
        """The ``limit`` most recent events meeting every condition given (``since``: at
        or after; ``after_id``: newer than that event), oldest first."""
        ...

    # --- a running VM's display (see tashi.domain.displays) ----------------------------
    def get_display(self, instance_id: int) -> Display:
        """The instance's display requests and answers (all empty when none was asked)."""
        ...
    def pending_displays(self, instance_ids: Collection[int]) -> dict[int, DesiredDisplay]:
        """The requests not answered yet of those of ``instance_ids`` that have some."""
        ...
    def ask_vnc(self, instance_id: int, *, open_it: bool, password: str) -> int:
        """Count a new VNC request (open one with ``password``, or close it); its number."""
        ...
    def ask_screenshot(self, instance_id: int) -> int:
        """Count a new screenshot request; its number."""
        ...
    def answer_vnc(self, instance_id: int, number: int, *, host: str, port: int,
                   error: str) -> bool:
        """Keep the answer to VNC request ``number`` (where it listens, or why it failed)
        and blank the password if it is the last one asked. False for an answer already
        kept; InvalidInput for a request never asked."""
        ...
    def answer_screenshot(self, instance_id: int, number: int, *,
                          png: tuple[bytes, int, int] | None, error: str) -> bool:
        """Keep the answer to screenshot request ``number``: the PNG (with its width and
        height) replaces the last one, or why there is none. As :meth:`answer_vnc`."""
        ...
    def get_screenshot(self, instance_id: int) -> Screenshot | None:
        """The last screenshot kept (None: none yet)."""
        ...

    # --- usage figures (see tashi.domain.usage) ----------------------------------------
    def put_usage(self, samples: Sequence[UsageSample]) -> int:
        """Keep each sample as its instance's latest, replacing the one before (of two
        for one instance, the later), in one transaction that writes no instance row:
        no state is derived, no event recorded. Samples of instances that do not exist
        are skipped; how many were kept. A sample goes with its instance, and is no
        part of a snapshot (a measurement, not state)."""
        ...
    def get_usage(self, instance_id: int) -> UsageSample | None:
        """The instance's latest sample (None: none yet); NotFound for no such instance."""
        ...

    def count_usage(self, report: UsageReport, now: datetime) -> int:
        """Count an agent's report (``now``: when the manager received it), in one
        transaction: each VM's consumption since the measurement counted before added
        to its record of the interval measured in (the first open one if that one is
        closed), the measurements kept as the instances' latest, and the report's
        sequence number as its sender's last; how many instances were counted.
        Conflict (nothing counted) for a sequence number not past the last counted from
        that sender; Forbidden (nothing counted) when it names an instance bound to
        another host. Instances gone or bound to no host are skipped."""
        ...

    # --- usage records (see tashi.domain.accounting) ---------------------------------
    def set_usage_interval(self, length_s: int) -> int:
        """Make usage intervals ``length_s`` long (it must divide a day: InvalidInput);
        Conflict once records exist with another length (they would not line up)."""
        ...
    def usage_closing(self) -> UsageClosed:
        """The intervals' length and the end of the last closed one."""
        ...
    def close_usage(self, now: datetime, grace_s: float = 0.0, *,
                    max_intervals: int = 24) -> UsageClosed:
        """Close the intervals that ended ``grace_s`` or more before ``now``, oldest
        first, at most ``max_intervals`` (call again for more): each one's allocated
        figures computed from the ledger, its records added to their day, and the
        closing mark moved past it, in one transaction. Each interval is closed once,
        whoever calls and however often; the first call starts at the ledger's first
        allocation."""
        ...
    def usage_report(self, query: UsageQuery) -> UsagePage:
        """One page of the closed usage records meeting ``query``, summed per its period
        and key, ordered by (period start, key), with the cursor of the next page and
        the closing mark (intervals from it on are left out: their figures may still
        change). InvalidInput for a query the intervals cannot answer (hours of
        intervals longer than an hour, a start or end off the periods' bounds) or a
        cursor not made by this kind of query."""
        ...

    # --- quotas (see tashi.domain.quotas) ----------------------------------------------
    def get_quota(self, user: str) -> Quota:
        """The user's limits (none set: no limit) and what its instances use now, read
        together; NotFound for no such user."""
        ...
    def list_quotas(self) -> list[Quota]:
        """The quotas of the users with at least one limit, by user name."""
        ...
    def set_quota(self, user: str, changes: Mapping[QuotaField, int | None]) -> Quota:
        """Set the limits named in ``changes`` (None: no limit), keeping the others;
        InvalidInput for a limit that is not a whole number >= 0 (nothing changed),
        NotFound for no such user. Creates (:meth:`create_instances`) and resumes (a
        spec write making an instance count, :meth:`update_instance`) are Forbidden
        past a limit, checked in their own transaction: concurrent ones never overshoot."""
        ...
    def delete_quota(self, user: str) -> Quota:
        """Remove every limit of the user (NotFound for no such user); the quota now."""
        ...

    # --- leases (see tashi.domain.leases and tashi.store.fencing) -----------------------
    def acquire_lease(self, name: str, holder: str, duration_s: float) -> Lease | None:
        """Take lease ``name`` for ``holder`` until ``duration_s`` from now by the
        database's clock, if it is free (never held, expired or released; its token then
        one more than the last) or ``holder``'s already (extended, its token kept); None
        if another holds it. One transaction: of two replicas acquiring at once, one wins.
        InvalidInput for an empty holder or a duration outside 0-3600 s."""
        ...
    def renew_lease(self, name: str, holder: str, token: int,
                    duration_s: float) -> Lease | None:
        """Extend ``holder``'s lease to ``duration_s`` from now, if it still holds it with
        ``token`` and it has not expired; None (nothing changed) otherwise: lost."""
        ...
    def release_lease(self, name: str, holder: str, token: int) -> bool:
        """Let the lease go (it expires now) if ``holder`` holds it with ``token``."""
        ...
    def get_lease(self, name: str) -> Lease | None:
        """The lease as it stands (None: never acquired); expired ones too."""
        ...

    # --- the whole state (export and import) ------------------------------------------
    def snapshot(self) -> Snapshot:
        """Everything in the store, read consistently (as of one moment)."""
        ...
    def restore(self, snapshot: Snapshot) -> None:
        """Load ``snapshot`` into this empty store, keeping its ids, generations and times.

        All or nothing. A store holding any record refuses with
        :class:`~tashi.domain.errors.Conflict`; records that contradict each other
        (a duplicate name or id) raise :class:`~tashi.domain.errors.Conflict` too.
        Afterwards new ids continue from the snapshot's ``next_*_id``.
        """
        ...

    def close(self) -> None: ...


def check_token_holder(name: str, user: str | None, host: str | None) -> None:
    """A token belongs to exactly one of a user or a host; InvalidInput otherwise."""
    if (user is None) == (host is None):
        raise InvalidInput(f"token {name!r} must belong to exactly one of a user or a host")
