"""The SQL implementation of the :class:`~tashi.store.base.Store` contract.

sqlite (the embedded default) and PostgreSQL, through SQLAlchemy 2. The schema is
made by :func:`tashi.store.sql.migrate.migrate`, never by this class: run it first
(or use :func:`tashi.store.sql.open_store`, which does both). A database whose schema
is not the newest this Tashi knows is refused when the store is opened.

Each method is one transaction in a session of its own, so the store may be called
from many threads at once. Methods that write open their transaction for writing
up front (``BEGIN IMMEDIATE`` on sqlite, see :mod:`tashi.store.sql.engine`).
Database errors that mean "duplicate" are translated here, once, into
:class:`~tashi.domain.errors.Conflict`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import Engine, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from tashi.domain.capabilities import HostCapabilities
from tashi.domain.claims import Claim
from tashi.domain.errors import Conflict, NotFound, StaleGeneration
from tashi.domain.events import NO_FACTS, Event, EventFacts, EventKind
from tashi.domain.models import (
    Host,
    Image,
    Instance,
    InstanceSpec,
    InstanceStatus,
    Network,
    NetworkKind,
    NewInstance,
)
from tashi.domain.states import HostState, InstanceState
from tashi.store.base import Idempotency, NewEvent, NewImage, Snapshot
from tashi.store.binding import Binding, BindResult, HostUsage
from tashi.store.capabilities import capabilities_doc, capabilities_from_doc
from tashi.store.imageuse import check_unused
from tashi.store.principals import PrincipalCache
from tashi.store.sql import (
    batch,
    claims,
    convert,
    derived,
    epoch,
    ledger,
    listing,
    migration,
)
from tashi.store.sql import idempotency as idempotency_keys
from tashi.store.sql import snapshot as whole
from tashi.store.sql.accounting import SqlAccounting
from tashi.store.sql.consumption import SqlConsumption
from tashi.store.sql.displays import SqlDisplays
from tashi.store.sql.engine import WriteSessions, make_engine
from tashi.store.sql.leases import SqlLeases, check_fence
from tashi.store.sql.migrate import check_schema
from tashi.store.sql.quotas import SqlQuotas
from tashi.store.sql.tables import (
    Base,
    ClaimRow,
    ConsoleRow,
    DiskRow,
    EventRow,
    HostRow,
    ImageRow,
    InstanceRow,
    NetworkRow,
    SettingRow,
    plain,
)
from tashi.store.sql.usage import SqlUsage
from tashi.store.sql.usage_reports import SqlUsageReports
from tashi.store.sql.users import SqlUsers

R = TypeVar("R", bound=Base)


def utcnow() -> datetime:
    return datetime.now(UTC)


class SqlStore(SqlUsers, SqlDisplays, SqlUsage, SqlQuotas, SqlAccounting, SqlConsumption,
               SqlUsageReports, SqlLeases):
    """A :class:`~tashi.store.base.Store` on an SQL database at ``url``.

    ``url`` may also be an engine already made (the pickle store's in-memory one, see
    :mod:`tashi.store.picklefile`); the store disposes of it when closed.
    ``clock`` gives the time stamped on new and changed records (UTC, tz-aware).
    """

    def __init__(self, url: str | Engine, *, clock: Callable[[], datetime] = utcnow) -> None:
        self._engine: Engine = url if isinstance(url, Engine) else make_engine(url)
        try:
            check_schema(self._engine)
        except BaseException:
            self._engine.dispose()
            raise
        self._read = sessionmaker(self._engine, expire_on_commit=False)
        self._write: sessionmaker[Session] = WriteSessions(self._engine, check_fence)
        self._clock = clock
        self._principals = PrincipalCache()

    def close(self) -> None:
        self._engine.dispose()

    # --- users and credentials: see SqlUsers; settings -----------------------------
    def get_setting(self, key: str) -> str | None:
        with self._read.begin() as s:
            row = s.get(SettingRow, key)
            return None if row is None else row.value

    def put_setting(self, key: str, value: str) -> None:
        with self._write.begin() as s:
            _upsert(s, SettingRow, {"key": key, "value": value}, key="key")

    # --- hosts -----------------------------------------------------------------------
    def create_host(self, name: str, *, cores: int = 0, memory_mib: int = 0) -> Host:
        row = HostRow(
            name=name, state=HostState.NORMAL.value, cores=cores, memory_mib=memory_mib,
            last_heartbeat=None, agent_version="", registered_at=self._clock(),
        )
        return convert.host(self._insert(row, f"host {name!r}"))

    def get_host(self, name: str) -> Host:
        with self._read.begin() as s:
            return convert.host(_named(s, HostRow, name, "host"))

    def list_hosts(self, *, states: Iterable[HostState] | None = None,
                   after: str | None = None, limit: int | None = None) -> list[Host]:
        stmt = listing.hosts(self._engine.dialect, states=states, after=after, limit=limit)
        with self._read.begin() as s:
            return [convert.host(r) for r in s.execute(stmt)]

    def record_heartbeat(
        self, name: str, *, cores: int, memory_mib: int, agent_version: str, at: datetime,
        hypervisor: str = "", disk_gib: int = 0, capabilities: HostCapabilities | None = None,
    ) -> Host:
        change = (update(HostRow).where(HostRow.name == name)  # thousands a minute: no ORM
                  .values(cores=cores, memory_mib=memory_mib, disk_gib=disk_gib,
                          agent_version=agent_version, last_heartbeat=at,
                          hypervisor=hypervisor, capabilities=capabilities_doc(capabilities))
                  .returning(*HostRow.__table__.columns))
        with self._write.begin() as s:
            row = s.execute(change).first()
        if row is None:
            raise NotFound(f"host {name!r} not found")
        return convert.host(row)

    def set_host_state(self, name: str, state: HostState) -> Host:
        with self._write.begin() as s:
            row = _named(s, HostRow, name, "host")
            row.state = state.value
            s.flush()
            return convert.host(row)

    def usage_by_host(self) -> dict[str, HostUsage]:
        with self._read.begin() as s:
            return claims.usage_by_host(s)

    def epoch(self) -> int:
        with self._read.begin() as s:
            return epoch.read(s)

    def list_claims(self, *, host: str | None = None,
                    instance_id: int | None = None) -> list[Claim]:
        with self._read.begin() as s:
            return claims.list_claims(s, host=host, instance_id=instance_id)

    def host_capabilities(self) -> list[HostCapabilities | None]:
        with self._read.begin() as s:  # hosts alike store the same document
            docs = s.scalars(select(HostRow.capabilities).distinct()).all()
        return [capabilities_from_doc(d) for d in docs]

    def set_host_reservation(self, name: str, users: Sequence[str]) -> Host:
        with self._write.begin() as s:
            row = _named(s, HostRow, name, "host")
            row.reserved_for = sorted(set(users))
            s.flush()
            return convert.host(row)

    # --- images and networks -----------------------------------------------------------
    def create_image(self, image: NewImage) -> Image:
        row = ImageRow(
            name=image.name, owner=image.owner, format=image.format.value,
            size_bytes=image.size_bytes, virtual_size_bytes=image.virtual_size_bytes,
            created_at=self._clock(), visibility=image.visibility.value,
            min_memory_mib=image.min_memory_mib,
        )
        return convert.image(self._insert(row, f"image {image.name!r}"))

    def get_image(self, name: str) -> Image:
        with self._read.begin() as s:
            return convert.image(_named(s, ImageRow, name, "image"))

    def list_images(self) -> list[Image]:
        return [convert.image(r) for r in self._list(ImageRow)]

    def delete_image(self, name: str) -> None:
        with self._write.begin() as s:
            check_unused(name, s.scalars(select(DiskRow.instance_id).where(
                DiskRow.image == name).order_by(DiskRow.instance_id).limit(100)).all())
            gone = s.scalar(delete(ImageRow).where(ImageRow.name == name).returning(ImageRow.id))
            if gone is None:
                raise NotFound(f"image {name!r} not found")

    def create_network(self, name: str, kind: NetworkKind) -> Network:
        row = NetworkRow(name=name, kind=kind.value, created_at=self._clock())
        return convert.network(self._insert(row, f"network {name!r}"))

    def get_network(self, name: str) -> Network:
        with self._read.begin() as s:
            return convert.network(_named(s, NetworkRow, name, "network"))

    def list_networks(self) -> list[Network]:
        return [convert.network(r) for r in self._list(NetworkRow)]

    def delete_network(self, name: str) -> None:
        with self._write.begin() as s:
            row = s.scalar(derived.locking(s, select(NetworkRow).where(NetworkRow.name == name)))
            if row is None:
                raise NotFound(f"network {name!r} not found")
            users = [i for i, spec in s.execute(select(InstanceRow.id, InstanceRow.spec)
                                                .order_by(InstanceRow.id))
                     if any(n.get("network") == name for n in spec.get("nics", ()))]
            if users:
                more = f" and {len(users) - 1} more" if len(users) > 1 else ""
                raise Conflict(f"network {name!r} is used by instance {users[0]}{more}; "
                               "destroy those first")
            s.delete(row)

    # --- instances -----------------------------------------------------------------------
    def create_instance(self, new: NewInstance) -> Instance:
        return self.create_instances([new])[0]

    def create_instances(self, news: Sequence[NewInstance], *, event: str | None = None,
                         idempotency: Idempotency | None = None) -> list[Instance]:
        try:
            return self._create_instances(news, event, idempotency)
        except Conflict:
            if idempotency is None:
                raise
            # a create racing with the same key was first: what it made, or why not
            return self._create_instances(news, event, idempotency)

    def _create_instances(self, news: Sequence[NewInstance], event: str | None,
                          idempotency: Idempotency | None) -> list[Instance]:
        now = self._clock()
        with self._write.begin() as s:
            made = None if idempotency is None else idempotency_keys.made_before(
                s, idempotency, now)
            if made is not None:
                found = {r.id: convert.instance(r) for r in s.execute(
                    plain(InstanceRow).where(InstanceRow.id.in_(made)))}
                return [found[i] for i in made if i in found]
            created = batch.create_instances(s, news, event, now)
            if idempotency is not None:
                try:
                    idempotency_keys.remember(s, idempotency, [i.id for i in created], now)
                except IntegrityError as exc:
                    raise Conflict(f"a create with Idempotency-Key {idempotency.key!r} "
                                   "ran at the same time") from exc
            return created

    def get_instance(self, instance_id: int) -> Instance:
        with self._read.begin() as s:
            return convert.instance(_instance(s, instance_id))

    def list_instances(
        self, *, owner: str | None = None, host: str | None = None,
        states: Iterable[InstanceState] | None = None, name: str | None = None,
        ids: Collection[int] | None = None, name_prefix: str | None = None,
        network: str | None = None, after: int | None = None, limit: int | None = None,
    ) -> list[Instance]:
        stmt = listing.instances(self._engine.dialect, owner=owner, host=host, states=states,
                                 name=name, ids=ids, name_prefix=name_prefix,
                                 network=network, after=after, limit=limit)
        with self._read.begin() as s:
            return [convert.instance(r) for r in s.execute(stmt)]

    def count_instances(self) -> dict[InstanceState, int]:
        counted = select(InstanceRow.state, func.count()).group_by(InstanceRow.state)
        with self._read.begin() as s:
            return {InstanceState(state): n for state, n in s.execute(counted)}

    def update_instance(
        self, instance_id: int, *, generation: int, spec: InstanceSpec,
        status: InstanceStatus | None = None,
    ) -> Instance:
        with self._write.begin() as s:
            return derived.write_instance(s, instance_id, generation=generation, spec=spec,
                                          status=status, now=self._clock())

    def start_migration(self, instance_id: int, *, generation: int, spec: InstanceSpec,
                        status: InstanceStatus, per_host: int = 2) -> Instance:
        with self._write.begin() as s:
            return migration.start_migration(s, instance_id, generation=generation,
                                             spec=spec, status=status, now=self._clock(),
                                             per_host=per_host)

    def set_instance_status(self, instance_id: int, status: InstanceStatus) -> Instance:
        with self._write.begin() as s:
            return derived.write_instance(s, instance_id, generation=None, spec=None,
                                          status=status, now=self._clock())

    def set_instance_statuses(self, statuses: Sequence[tuple[int, InstanceStatus, int]],
                              ) -> list[Instance | None]:
        now = self._clock()
        written: dict[int, Instance | None] = {}
        with self._write.begin() as s:  # rows locked in id order, as a binding batch does
            silent = {str(n): bool(q) for n, q in s.execute(select(HostRow.name,
                                                                   HostRow.silent))}
            for instance_id, status, seen in sorted(statuses, key=lambda c: c[0]):
                try:
                    written[instance_id] = derived.write_instance(
                        s, instance_id, generation=None, spec=None, status=status, now=now,
                        silent=silent, made_at=seen)
                except StaleGeneration:
                    written[instance_id] = None
        return [written[instance_id] for instance_id, _, _ in statuses]

    def set_host_silent(self, name: str, silent: bool,
                        why: str = "") -> list[tuple[Instance, Instance]]:
        with self._write.begin() as s:
            return derived.set_host_silent(s, name, silent, why, self._clock())

    def delete_instance(self, instance_id: int, *, generation: int) -> None:
        match = (InstanceRow.id == instance_id, InstanceRow.generation == generation)
        with self._write.begin() as s:
            gone = s.scalar(delete(InstanceRow).where(*match).returning(InstanceRow.id))
            if gone is None:
                raise _stale(s, instance_id, generation)
            s.execute(delete(ConsoleRow).where(ConsoleRow.instance_id == instance_id))
            s.execute(delete(ClaimRow).where(ClaimRow.instance_id == instance_id))
            ledger.close(s, instance_id, self._clock().timestamp())
            s.execute(delete(DiskRow).where(DiskRow.instance_id == instance_id))

    def bind_instances(self, bindings: Sequence[Binding]) -> list[BindResult]:
        if not bindings:
            return []
        with self._write.begin() as s:
            return batch.bind_instances(s, bindings, self._clock())

    # --- consoles and events -------------------------------------------------------------
    def put_console(self, instance_id: int, text: str) -> None:
        with self._write.begin() as s:
            _instance(s, instance_id)
            _upsert(s, ConsoleRow, {"instance_id": instance_id, "text": text}, key="instance_id")

    def get_console(self, instance_id: int) -> str:
        with self._read.begin() as s:
            _instance(s, instance_id)
            row = s.get(ConsoleRow, instance_id)
            return "" if row is None else row.text

    def add_event(
        self, message: str, *, instance_id: int | None = None, host: str | None = None,
        facts: EventFacts = NO_FACTS,
    ) -> Event:
        row = EventRow(**convert.event_row(facts, instance_id=instance_id, host=host,
                                           message=message, at=self._clock()))
        return convert.event(self._insert(row, "event"))

    def add_events(self, events: Sequence[NewEvent]) -> None:
        if not events:
            return
        at = self._clock()
        with self._write.begin() as s:  # executemany: one statement, however many
            s.execute(insert(EventRow), [
                convert.event_row(e.facts, instance_id=e.instance_id, host=e.host,
                                  message=e.message, at=at) for e in events])

    def list_events(
        self, *, instance_id: int | None = None, host: str | None = None,
        user: str | None = None, kind: EventKind | None = None,
        since: datetime | None = None, after_id: int | None = None, limit: int = 100,
    ) -> Sequence[Event]:
        stmt = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
        for column, value in ((EventRow.instance_id, instance_id), (EventRow.host, host),
                              (EventRow.user_name, user), (EventRow.kind, kind)):
            if value is not None:
                stmt = stmt.where(column == value)
        if since is not None:
            stmt = stmt.where(EventRow.at >= since)
        if after_id is not None:
            stmt = stmt.where(EventRow.id > after_id)
        with self._read.begin() as s:
            newest_first = [convert.event(r) for r in s.scalars(stmt)]
        return newest_first[::-1]

    # --- the whole state ---------------------------------------------------------------
    def snapshot(self) -> Snapshot:
        engine = self._engine
        if engine.dialect.name == "postgresql":  # one view of the data for every SELECT
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(engine) as s, s.begin():  # sqlite: one WAL read snapshot
            return whole.read(s)

    def restore(self, snapshot: Snapshot) -> None:
        with self._write.begin() as s:
            whole.write(s, snapshot)
            ledger.open_all(s, snapshot.instances, self._clock())
            epoch.restore(s, snapshot.epoch)

    # --- helpers ---------------------------------------------------------------------
    def _insert(self, row: R, what: str) -> R:
        """Insert ``row`` in a transaction of its own; a duplicate is a Conflict."""
        try:
            with self._write.begin() as s:
                s.add(row)
                s.flush()
        except IntegrityError as exc:
            raise Conflict(f"{what} already exists") from exc
        return row

    def _list(self, model: type[R]) -> list[R]:
        with self._read.begin() as s:
            return list(s.scalars(select(model).order_by(model.__table__.c.id)))


def _named(s: Session, model: type[R], name: str, kind: str) -> R:
    row = s.scalars(select(model).where(model.__table__.c.name == name)).first()
    if row is None:
        raise NotFound(f"{kind} {name!r} not found")
    return row


def _instance(s: Session, instance_id: int) -> InstanceRow:
    row = s.get(InstanceRow, instance_id)
    if row is None:
        raise NotFound(f"instance {instance_id} not found")
    return row


def _stale(s: Session, instance_id: int, generation: int) -> StaleGeneration:
    """The Conflict for a generation-checked write that matched no row (NotFound if gone)."""
    row = _instance(s, instance_id)
    return StaleGeneration(
        f"instance {instance_id} ({row.name!r}): generation {generation} is stale, "
        f"it is now at {row.generation}; re-read it and retry"
    )


def _upsert(s: Session, model: type[Base], values: dict[str, Any], *, key: str) -> None:
    """Insert ``values`` or, if a row with that ``key`` exists, update it (race-free)."""
    dialect = s.get_bind().dialect.name
    changed = {k: v for k, v in values.items() if k != key}
    if dialect == "postgresql":
        pg = postgresql.insert(model).values(values)
        s.execute(pg.on_conflict_do_update(index_elements=[key], set_=changed))
    elif dialect == "sqlite":
        lite = sqlite.insert(model).values(values)
        s.execute(lite.on_conflict_do_update(index_elements=[key], set_=changed))
    else:  # pragma: no cover - only sqlite and PostgreSQL are supported
        s.merge(model(**values))
