"""The pickle implementation of the :class:`~tashi.store.base.Store` contract.

For tiny installs: the whole state lives in memory and in one file, rewritten
atomically on every write (see :mod:`tashi.store.picklefile.file`). One lock around
each method makes it thread-safe; a write changes a draft copy of the state, saves
it, and only then makes it the state, so a failed write (a Conflict, a full disk)
changes nothing. Writes cost a rewrite of the whole file: fine for tens of hosts
and hundreds of instances, not for more; use PostgreSQL there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

from tashi.domain.errors import Conflict, InvalidInput, NotFound
from tashi.domain.models import (
    Event,
    Host,
    Image,
    Instance,
    InstanceSpec,
    InstanceStatus,
    Network,
    NetworkKind,
    NewInstance,
)
from tashi.domain.states import HOLDS_RESOURCES, HostState, InstanceState
from tashi.store.base import NewImage, Snapshot
from tashi.store.binding import Binding, BindResult, HostUsage, usage_of
from tashi.store.documents import maybe_utc, utc
from tashi.store.imageuse import check_unused
from tashi.store.picklefile import batch
from tashi.store.picklefile.file import StateFile
from tashi.store.picklefile.state import State
from tashi.store.picklefile.users import PickleUsers

V = TypeVar("V")


def utcnow() -> datetime:
    return datetime.now(UTC)


class PickleStore(PickleUsers):
    """A :class:`~tashi.store.base.Store` in the file at ``path`` (created if missing).

    Raises :class:`~tashi.domain.errors.Conflict` if another store holds the file.
    """

    def __init__(self, path: Path, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._file = StateFile(path)
        try:
            saved = self._file.load()
            self._state = State() if saved is None else State.of(saved)
            if saved is None:
                self._file.save(self._state.snapshot())
        except BaseException:
            self._file.close()
            raise
        self._clock = clock
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._file.close()

    @contextlib.contextmanager
    def _writing(self) -> Iterator[State]:
        """A draft of the state to change; saved and kept if the block succeeds."""
        with self._lock:
            draft = self._state.copy()
            yield draft
            self._file.save(draft.snapshot())
            self._state = draft

    @contextlib.contextmanager
    def _reading(self) -> Iterator[State]:
        with self._lock:
            yield self._state

    # --- users and credentials: see PickleUsers; settings --------------------------
    def get_setting(self, key: str) -> str | None:
        with self._reading() as st:
            return st.settings.get(key)

    def put_setting(self, key: str, value: str) -> None:
        with self._writing() as st:
            st.settings[key] = value

    # --- hosts -----------------------------------------------------------------------
    def create_host(self, name: str, *, cores: int = 0, memory_mib: int = 0) -> Host:
        with self._writing() as st:
            _absent(st.hosts, name, f"host {name!r}")
            host = Host(id=st.take_id("hosts"), name=name, state=HostState.NORMAL, cores=cores,
                        memory_mib=memory_mib, last_heartbeat=None, agent_version="",
                        registered_at=self._now())
            st.hosts[name] = host
            return host

    def get_host(self, name: str) -> Host:
        with self._reading() as st:
            return _get(st.hosts, name, f"host {name!r}")

    def list_hosts(self) -> list[Host]:
        with self._reading() as st:
            return list(st.hosts.values())

    def record_heartbeat(
        self, name: str, *, cores: int, memory_mib: int, agent_version: str, at: datetime,
        hypervisor: str = "",
    ) -> Host:
        with self._writing() as st:
            host = dataclasses.replace(
                _get(st.hosts, name, f"host {name!r}"), cores=cores, memory_mib=memory_mib,
                agent_version=agent_version, last_heartbeat=utc(at), hypervisor=hypervisor)
            st.hosts[name] = host
            return host

    def set_host_state(self, name: str, state: HostState) -> Host:
        with self._writing() as st:
            host = dataclasses.replace(_get(st.hosts, name, f"host {name!r}"), state=state)
            st.hosts[name] = host
            return host

    def usage_by_host(self) -> dict[str, HostUsage]:
        with self._reading() as st:
            return usage_of(i for i in st.instances.values() if i.state in HOLDS_RESOURCES)

    def set_host_reservation(self, name: str, users: Sequence[str]) -> Host:
        with self._writing() as st:
            host = dataclasses.replace(_get(st.hosts, name, f"host {name!r}"),
                                       reserved_for=tuple(sorted(set(users))))
            st.hosts[name] = host
            return host

    # --- images and networks -----------------------------------------------------------
    def create_image(self, image: NewImage) -> Image:
        with self._writing() as st:
            _absent(st.images, image.name, f"image {image.name!r}")
            record = Image(
                id=st.take_id("images"), name=image.name, owner=image.owner,
                format=image.format, size_bytes=image.size_bytes,
                virtual_size_bytes=image.virtual_size_bytes, created_at=self._now(),
            )
            st.images[image.name] = record
            return record

    def get_image(self, name: str) -> Image:
        with self._reading() as st:
            return _get(st.images, name, f"image {name!r}")

    def list_images(self) -> list[Image]:
        with self._reading() as st:
            return list(st.images.values())

    def delete_image(self, name: str) -> None:
        with self._writing() as st:
            _get(st.images, name, f"image {name!r}")
            check_unused(name, sorted(i.id for i in st.instances.values()
                                      if any(d.image == name for d in i.spec.disks)))
            del st.images[name]

    def create_network(self, name: str, kind: NetworkKind) -> Network:
        with self._writing() as st:
            _absent(st.networks, name, f"network {name!r}")
            network = Network(id=st.take_id("networks"), name=name, kind=kind,
                              created_at=self._now())
            st.networks[name] = network
            return network

    def get_network(self, name: str) -> Network:
        with self._reading() as st:
            return _get(st.networks, name, f"network {name!r}")

    def list_networks(self) -> list[Network]:
        with self._reading() as st:
            return list(st.networks.values())

    # --- instances -----------------------------------------------------------------------
    def create_instance(self, new: NewInstance) -> Instance:
        return self.create_instances([new])[0]

    def create_instances(self, news: Sequence[NewInstance], *,
                         event: str | None = None) -> list[Instance]:
        with self._writing() as st:
            return batch.create_instances(st, news, event, self._now())

    def get_instance(self, instance_id: int) -> Instance:
        with self._reading() as st:
            return _instance(st, instance_id)

    def list_instances(
        self, *, owner: str | None = None, host: str | None = None,
        states: Iterable[InstanceState] | None = None, name: str | None = None,
    ) -> list[Instance]:
        wanted = None if states is None else set(states)
        with self._reading() as st:
            return [
                i for i in st.instances.values()
                if (owner is None or i.owner == owner) and (name is None or i.name == name)
                and (host is None or i.spec.host == host)
                and (wanted is None or i.state in wanted)
            ]

    def update_instance(
        self, instance_id: int, *, generation: int, state: InstanceState | None = None,
        spec: InstanceSpec | None = None, status: InstanceStatus | None = None,
    ) -> Instance:
        if state is None and spec is None:
            raise InvalidInput(f"instance {instance_id}: a generation-checked write changes "
                               "the state or the spec; write a status with set_instance_status")
        with self._writing() as st:
            old = _current(st, instance_id, generation)
            inst = dataclasses.replace(
                old, state=old.state if state is None else state,
                spec=old.spec if spec is None else spec,
                status=old.status if status is None else _utc_status(status),
                generation=generation + 1, updated_at=self._now(),
            )
            st.instances[instance_id] = inst
            return inst

    def set_instance_status(self, instance_id: int, status: InstanceStatus) -> Instance:
        with self._writing() as st:
            inst = dataclasses.replace(_instance(st, instance_id), status=_utc_status(status),
                                       updated_at=self._now())
            st.instances[instance_id] = inst
            return inst

    def delete_instance(self, instance_id: int, *, generation: int) -> None:
        with self._writing() as st:
            _current(st, instance_id, generation)
            del st.instances[instance_id]
            st.consoles.pop(instance_id, None)

    def bind_instances(self, bindings: Sequence[Binding]) -> list[BindResult]:
        with self._writing() as st:
            return batch.bind_instances(st, bindings, self._now())

    # --- consoles and events -------------------------------------------------------------
    def put_console(self, instance_id: int, text: str) -> None:
        with self._writing() as st:
            _instance(st, instance_id)
            st.consoles[instance_id] = text

    def get_console(self, instance_id: int) -> str:
        with self._reading() as st:
            _instance(st, instance_id)
            return st.consoles.get(instance_id, "")

    def add_event(
        self, message: str, *, instance_id: int | None = None, host: str | None = None
    ) -> Event:
        with self._writing() as st:
            event = Event(id=st.take_id("events"), instance_id=instance_id, host=host,
                          message=message, at=self._now())
            st.events.append(event)
            return event

    def list_events(
        self, *, instance_id: int | None = None, host: str | None = None, limit: int = 100
    ) -> Sequence[Event]:
        with self._reading() as st:
            matching = [e for e in st.events
                        if (instance_id is None or e.instance_id == instance_id)
                        and (host is None or e.host == host)]
        return matching[-limit:] if limit > 0 else []

    # --- the whole state ---------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        with self._reading() as st:
            return st.snapshot()

    def restore(self, snapshot: Snapshot) -> None:
        loaded = State.of(snapshot)
        with self._lock:
            if not self._state.is_empty():
                raise Conflict(f"the store {self._file.path} is not empty; "
                               "import only into a new, empty store")
            for kind, n in self._state.next_ids.items():  # never go back
                loaded.next_ids[kind] = max(loaded.next_ids[kind], n)
            self._file.save(loaded.snapshot())
            self._state = loaded

    def _now(self) -> datetime:
        return utc(self._clock())


def _get(records: Mapping[str, V], key: str, what: str) -> V:
    record = records.get(key)
    if record is None:
        raise NotFound(f"{what} not found")
    return record


def _absent(records: Mapping[str, object], key: str, what: str) -> None:
    if key in records:
        raise Conflict(f"{what} already exists")


def _instance(st: State, instance_id: int) -> Instance:
    inst = st.instances.get(instance_id)
    if inst is None:
        raise NotFound(f"instance {instance_id} not found")
    return inst


def _current(st: State, instance_id: int, generation: int) -> Instance:
    """The instance, if ``generation`` is its current one (else Conflict, or NotFound)."""
    inst = _instance(st, instance_id)
    if inst.generation != generation:
        raise Conflict(
            f"instance {instance_id} ({inst.name!r}): generation {generation} is stale, "
            f"it is now at {inst.generation}; re-read it and retry"
        )
    return inst


def _utc_status(status: InstanceStatus) -> InstanceStatus:
    return dataclasses.replace(status, observed_at=maybe_utc(status.observed_at))
