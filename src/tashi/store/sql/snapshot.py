"""The whole SQL store as a :class:`~tashi.store.base.Snapshot`, and back.

:func:`read` runs inside one read transaction (the caller makes it a consistent one);
:func:`write` inside one write transaction, into an empty database, keeping ids and
moving the id sequences past them (and past the snapshot's ``next_*_id``), so ids
are never reused after an import either.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tashi.domain.errors import Conflict
from tashi.store.base import Snapshot
from tashi.store.capabilities import capabilities_doc
from tashi.store.documents import spec_doc, status_doc
from tashi.store.sql import claims, convert, epoch
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
    TokenRow,
    UserRow,
    disk_rows,
)

#: Tables with an integer ``id`` from a sequence, in the order they are filled.
ID_TABLES: tuple[type[Base], ...] = (
    UserRow, TokenRow, HostRow, ImageRow, NetworkRow, InstanceRow, EventRow
)
ALL_TABLES: tuple[type[Base], ...] = (*ID_TABLES, SettingRow, ConsoleRow, DiskRow, ClaimRow)
NEVER_REUSED: tuple[type[Base], ...] = (InstanceRow, EventRow)  # AUTOINCREMENT on sqlite


def read(s: Session) -> Snapshot:
    def rows(model: type[Any]) -> list[Any]:
        return list(s.scalars(select(model).order_by(model.__table__.c.id)))

    settings = s.scalars(select(SettingRow).order_by(SettingRow.key))
    users = rows(UserRow)
    consoles = s.scalars(select(ConsoleRow).order_by(ConsoleRow.instance_id))
    return Snapshot(
        users=tuple(convert.user(r) for r in users),
        tokens=tuple(convert.token(r) for r in rows(TokenRow)),
        settings=tuple((r.key, r.value) for r in settings),
        hosts=tuple(convert.host(r) for r in rows(HostRow)),
        images=tuple(convert.image(r) for r in rows(ImageRow)),
        networks=tuple(convert.network(r) for r in rows(NetworkRow)),
        instances=tuple(convert.instance(r) for r in rows(InstanceRow)),
        consoles=tuple((r.instance_id, r.text) for r in consoles),
        events=tuple(convert.event(r) for r in rows(EventRow)),
        next_instance_id=next_id(s, InstanceRow),
        next_event_id=next_id(s, EventRow),
        passwords=tuple(sorted((r.name, r.password_hash) for r in users
                               if r.password_hash is not None)),
        epoch=epoch.read(s),
    )


def write(s: Session, snap: Snapshot) -> None:
    """Insert every record of ``snap``; Conflict if the database holds any record."""
    _check_empty(s)
    try:
        for model, values in _rows(snap, _password_hashes(snap)):
            if values:
                s.execute(insert(model), values)
    except IntegrityError as exc:
        raise Conflict(f"the snapshot contradicts itself: {exc.orig}") from exc
    wanted = {InstanceRow: snap.next_instance_id, EventRow: snap.next_event_id}
    for model in ID_TABLES:
        highest = s.scalar(select(func.max(model.__table__.c.id))) or 0
        _advance(s, model, max(highest + 1, wanted.get(model, 1)))


def next_id(s: Session, model: type[Base]) -> int:
    """The id the database would give the next row of ``model`` (at least max(id)+1)."""
    highest = s.scalar(select(func.max(model.__table__.c.id))) or 0
    return max(_sequence_next(s, model), highest + 1)


def _sequence_next(s: Session, model: type[Base]) -> int:
    """The next value of ``model``'s id sequence, ignoring the rows (1 if none is kept)."""
    table = model.__tablename__
    if s.get_bind().dialect.name == "postgresql":
        last = s.scalar(text("SELECT pg_sequence_last_value("
                             "pg_get_serial_sequence(:t, 'id')::regclass)"), {"t": table})
    else:  # only AUTOINCREMENT tables have a row in sqlite_sequence
        last = s.scalar(text("SELECT seq FROM sqlite_sequence WHERE name = :t"), {"t": table})
    return int(last or 0) + 1


def _advance(s: Session, model: type[Base], next_value: int) -> None:
    """Make ``next_value`` the next id of ``model`` unless the sequence is already past it."""
    table, last = model.__tablename__, next_value - 1
    if next_value <= _sequence_next(s, model):
        return
    if s.get_bind().dialect.name == "postgresql":
        s.execute(text("SELECT setval(pg_get_serial_sequence(:t, 'id'), :v, true)"),
                  {"t": table, "v": last})
    elif model in NEVER_REUSED:
        s.execute(text("DELETE FROM sqlite_sequence WHERE name = :t"), {"t": table})
        s.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES (:t, :v)"),
                  {"t": table, "v": last})
    # other sqlite tables take max(id) + 1, which the inserted rows already set


def _password_hashes(snap: Snapshot) -> dict[str, str]:
    """The password hashes by user name; Conflict if one names no user or a user twice."""
    hashes = dict(snap.passwords)
    users = {u.name for u in snap.users}
    for name, _ in snap.passwords:
        if name not in users:
            raise Conflict(f"the snapshot contradicts itself: a password of unknown user "
                           f"{name!r}")
    if len(hashes) != len(snap.passwords):
        raise Conflict("the snapshot contradicts itself: a user's password twice")
    return hashes


def _check_empty(s: Session) -> None:
    counts = {m.__tablename__: s.scalar(select(func.count()).select_from(m)) or 0
              for m in ALL_TABLES}
    held = [f"{n} {table}" for table, n in counts.items() if n]
    if held:
        raise Conflict(f"the store is not empty (it holds {', '.join(held)}); "
                       "import only into a new, empty store")


def _rows(snap: Snapshot,
          hashes: dict[str, str]) -> list[tuple[type[Base], list[dict[str, Any]]]]:
    """Each table's rows, in an order the foreign keys accept."""
    return [
        (UserRow, [{"id": u.id, "name": u.name, "role": u.role.value, "source": u.source,
                    "created_at": u.created_at, "password_hash": hashes.get(u.name)}
                   for u in snap.users]),
        (TokenRow, [{"id": t.id, "token_hash": t.token_hash, "name": t.name,
                     "user_name": t.user, "host_name": t.host, "created_at": t.created_at,
                     "expires_at": t.expires_at} for t in snap.tokens]),
        (SettingRow, [{"key": k, "value": v} for k, v in snap.settings]),
        (HostRow, [{"id": h.id, "name": h.name, "state": h.state.value, "cores": h.cores,
                    "memory_mib": h.memory_mib, "disk_gib": h.disk_gib,
                    "last_heartbeat": h.last_heartbeat,
                    "agent_version": h.agent_version, "registered_at": h.registered_at,
                    "hypervisor": h.hypervisor, "reserved_for": list(h.reserved_for),
                    "silent": h.silent, "capabilities": capabilities_doc(h.capabilities)}
                   for h in snap.hosts]),
        (ImageRow, [{"id": i.id, "name": i.name, "owner": i.owner, "format": i.format.value,
                     "size_bytes": i.size_bytes, "virtual_size_bytes": i.virtual_size_bytes,
                     "created_at": i.created_at, "visibility": i.visibility.value,
                     "min_memory_mib": i.min_memory_mib} for i in snap.images]),
        (NetworkRow, [{"id": n.id, "name": n.name, "kind": n.kind.value,
                       "created_at": n.created_at} for n in snap.networks]),
        (InstanceRow, [{"id": i.id, "name": i.name, "owner": i.owner, "state": i.state.value,
                        "host": i.spec.host, "spec": spec_doc(i.spec),
                        "status": status_doc(i.status), "generation": i.generation,
                        "created_at": i.created_at, "updated_at": i.updated_at}
                       for i in snap.instances]),
        (DiskRow, [d for i in snap.instances for d in disk_rows(i.id, i.spec.disks)]),
        (ClaimRow, claims.rows_for(snap.instances, None)),  # derived, as the state is
        (ConsoleRow, [{"instance_id": i, "text": t} for i, t in snap.consoles]),
        (EventRow, [convert.event_row(e, id=e.id, instance_id=e.instance_id, host=e.host,
                                      message=e.message, at=e.at) for e in snap.events]),
    ]
