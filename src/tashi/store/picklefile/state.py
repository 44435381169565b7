"""The pickle store's state in memory: records by key, and the next id of each kind."""

from __future__ import annotations

import copy
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tashi.domain.errors import Conflict
from tashi.domain.models import Event, Host, Image, Instance, Network, User
from tashi.store.base import Snapshot, TokenRecord

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")
KINDS = ("users", "tokens", "hosts", "images", "networks", "instances", "events")


@dataclass
class State:
    """Everything, as frozen records. Dicts keep insertion order, which is id order."""

    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)  # by hash
    settings: dict[str, str] = field(default_factory=dict)
    hosts: dict[str, Host] = field(default_factory=dict)
    images: dict[str, Image] = field(default_factory=dict)
    networks: dict[str, Network] = field(default_factory=dict)
    instances: dict[int, Instance] = field(default_factory=dict)
    consoles: dict[int, str] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    next_ids: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 1))
    passwords: dict[str, str] = field(default_factory=dict)  # argon2 hashes by user name

    def copy(self) -> State:
        """A draft to change: new containers, the same (frozen) records."""
        return State(**{name: copy.copy(value) for name, value in vars(self).items()})

    def take_id(self, kind: str) -> int:
        n = self.next_ids[kind]
        self.next_ids[kind] = n + 1
        return n

    def is_empty(self) -> bool:
        return not any((self.users, self.tokens, self.settings, self.hosts, self.images,
                        self.networks, self.instances, self.consoles, self.events))

    def snapshot(self) -> Snapshot:
        def by_id(records: Iterable[Any]) -> tuple[Any, ...]:
            return tuple(sorted(records, key=lambda r: r.id))

        return Snapshot(
            users=by_id(self.users.values()), tokens=by_id(self.tokens.values()),
            settings=tuple(sorted(self.settings.items())), hosts=by_id(self.hosts.values()),
            images=by_id(self.images.values()), networks=by_id(self.networks.values()),
            instances=by_id(self.instances.values()), consoles=tuple(sorted(self.consoles.items())),
            events=by_id(self.events), next_instance_id=self.next_ids["instances"],
            next_event_id=self.next_ids["events"],
            passwords=tuple(sorted(self.passwords.items())),
        )

    @classmethod
    def of(cls, snap: Snapshot) -> State:
        """The state holding ``snap``; Conflict if its records contradict each other."""
        state = cls(
            users=_index(snap.users, lambda u: u.name, "user"),
            tokens=_index(snap.tokens, lambda t: t.token_hash, "token hash"),
            settings=dict(snap.settings),
            hosts=_index(snap.hosts, lambda h: h.name, "host"),
            images=_index(snap.images, lambda i: i.name, "image"),
            networks=_index(snap.networks, lambda n: n.name, "network"),
            instances=_index(snap.instances, lambda i: i.id, "instance"),
            consoles=dict(snap.consoles),
            events=sorted(snap.events, key=lambda e: e.id),
            passwords=dict(snap.passwords),
        )
        state._check_references(snap)
        for kind in KINDS:
            state.next_ids[kind] = max((r.id for r in state._records(kind)), default=0) + 1
        state.next_ids["instances"] = max(state.next_ids["instances"], snap.next_instance_id)
        state.next_ids["events"] = max(state.next_ids["events"], snap.next_event_id)
        return state

    def _records(self, kind: str) -> Iterable[Any]:
        records = getattr(self, kind)
        return records.values() if isinstance(records, dict) else records

    def _check_references(self, snap: Snapshot) -> None:
        _index(snap.instances, lambda i: (i.owner, i.name), "instance")
        for kind in KINDS:
            _index(self._records(kind), lambda r: r.id, f"{kind} id")
        if (len(self.settings), len(self.consoles), len(self.passwords)) != (
                len(snap.settings), len(snap.consoles), len(snap.passwords)):
            raise Conflict("the snapshot contradicts itself: a setting, console or "
                           "password twice")
        for name in self.passwords:
            if name not in self.users:
                raise Conflict(f"the snapshot contradicts itself: a password of unknown "
                               f"user {name!r}")
        for token in self.tokens.values():
            if token.user is not None and token.user not in self.users:
                raise Conflict(f"the snapshot contradicts itself: token {token.name!r} "
                               f"of unknown user {token.user!r}")
        for instance_id in self.consoles:
            if instance_id not in self.instances:
                raise Conflict(f"the snapshot contradicts itself: console of unknown "
                               f"instance {instance_id}")


def _index(records: Iterable[V], key: Callable[[V], K], what: str) -> dict[K, V]:
    out: dict[K, V] = {}
    for record in sorted(records, key=lambda r: getattr(r, "id", 0)):
        k = key(record)
        if k in out:
            raise Conflict(f"the snapshot contradicts itself: {what} {k!r} twice")
        out[k] = record
    return out
