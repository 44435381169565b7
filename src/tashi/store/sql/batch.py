"""The SQL store's batches: many instances created at once, many bindings at once.

Each runs inside the caller's write transaction (``BEGIN IMMEDIATE`` on sqlite,
which serializes writers). On PostgreSQL, :func:`bind_instances` locks the rows of
the hosts it binds to (``SELECT … FOR UPDATE``, in name order, then the instances in
id order, so two batches never deadlock) before it reads their usage (the sum of their
claims, :mod:`tashi.store.sql.claims`): a concurrent batch binding to one of those
hosts waits, then sees this one's claims.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tashi.domain.errors import Conflict
from tashi.domain.events import EventFacts, EventKind
from tashi.domain.models import Instance, InstanceStatus, NewInstance
from tashi.domain.states import InstanceState
from tashi.store.binding import (
    IDLE,
    Binding,
    BindResult,
    bound,
    event_message,
    refusal,
)
from tashi.store.documents import spec_doc, status_doc
from tashi.store.imageuse import ImageUse, check_image_use, check_images_exist, images_of
from tashi.store.sql import claims, convert, quotas
from tashi.store.sql.derived import locking
from tashi.store.sql.tables import (
    DiskRow,
    EventRow,
    HostRow,
    ImageRow,
    InstanceRow,
    NetworkRow,
    disk_rows,
    plain,
)


def create_instances(s: Session, news: Sequence[NewInstance], event: str | None,
                     now: datetime) -> list[Instance]:
    """Insert ``news`` (and their events); Conflict naming the first duplicate name, or
    an image they may not use now (see :mod:`tashi.store.imageuse`); Forbidden past an
    owner's quota (see :mod:`tashi.store.sql.quotas`)."""
    _check_names(s, news)
    check_image_use(news, _image_uses(s, news))
    quotas.check_creates(s, news)  # the owner's quota row locked: see .quotas
    status = InstanceStatus()
    rows = [{"name": n.name, "owner": n.owner, "state": InstanceState.PENDING.value,
             "host": n.spec.host, "spec": spec_doc(n.spec), "status": status_doc(status),
             "generation": 1, "created_at": now, "updated_at": now} for n in news]
    try:  # one multi-row INSERT … RETURNING, not an ORM object per instance
        ids = s.scalars(insert(InstanceRow).returning(InstanceRow.id,
                                                      sort_by_parameter_order=True),
                        rows).all()
    except IntegrityError as exc:  # a concurrent creation took a name meanwhile
        raise Conflict(f"an instance named like one of {news[0].name!r}... of "
                       f"{news[0].owner!r} already exists") from exc
    s.execute(insert(DiskRow), [d for i, n in zip(ids, news, strict=True)
                                for d in disk_rows(i, n.spec.disks)])
    if event is not None:
        s.execute(insert(EventRow), [convert.event_row(
            EventFacts(EventKind.INSTANCE_CREATED, f"user {n.owner}", n.owner, None,
                       InstanceState.PENDING, n.spec.resources),
            instance_id=i, host=n.spec.host, message=event, at=now)
            for i, n in zip(ids, news, strict=True)])
    return [Instance(id=i, name=n.name, owner=n.owner, state=InstanceState.PENDING,
                     spec=n.spec, status=status, generation=1, created_at=now, updated_at=now)
            for i, n in zip(ids, news, strict=True)]


def _check_names(s: Session, news: Sequence[NewInstance]) -> None:
    seen: set[tuple[str, str]] = set()
    by_owner: defaultdict[str, list[str]] = defaultdict(list)
    for n in news:
        if (n.owner, n.name) in seen:
            raise Conflict(f"instance {n.name!r} of {n.owner!r} is asked twice")
        seen.add((n.owner, n.name))
        by_owner[n.owner].append(n.name)
    for owner, names in by_owner.items():
        taken = s.scalars(select(InstanceRow.name).where(
            InstanceRow.owner == owner, InstanceRow.name.in_(names))).first()
        if taken is not None:
            raise Conflict(f"instance {taken!r} of {owner!r} already exists")


def _image_uses(s: Session, news: Sequence[NewInstance]) -> list[ImageUse]:
    """The live uses of the images ``news`` want that could stand in their way: the
    persistent ones, and any use of an image they want to write. On PostgreSQL the
    images' rows are locked first (InvalidInput if one is gone), so creations that use
    one image take turns with each other and with its deletion (sqlite's write
    transaction already excludes)."""
    images = sorted(images_of(news))
    if not images:
        return []
    written = sorted({d.image for n in news for d in n.spec.disks if d.persistent})
    check_images_exist(images, s.scalars(locking(s, select(ImageRow.name).where(
        ImageRow.name.in_(images)).order_by(ImageRow.name))))
    rows = s.execute(select(DiskRow.instance_id, DiskRow.image, DiskRow.persistent)
                     .join(InstanceRow, InstanceRow.id == DiskRow.instance_id)
                     .where(InstanceRow.state != InstanceState.EXITED.value,
                            DiskRow.image.in_(images),
                            or_(DiskRow.persistent.is_(True), DiskRow.image.in_(written))))
    return [ImageUse(i, image, bool(p)) for i, image, p in rows]


def bind_instances(s: Session, bindings: Sequence[Binding], now: datetime) -> list[BindResult]:
    names = sorted({b.host for b in bindings})
    hosts = {r.name: convert.host(r) for r in s.scalars(
        locking(s, select(HostRow).where(HostRow.name.in_(names)).order_by(HostRow.name)))}
    ids = sorted({b.instance_id for b in bindings})
    instances = {r.id: convert.instance(r) for r in s.execute(locking(
        s, plain(InstanceRow).where(InstanceRow.id.in_(ids)).order_by(InstanceRow.id)))}
    anti_affinity = any(i.spec.anti_affinity for i in instances.values())
    usage = claims.usage_by_host(s, list(hosts), groups_too=anti_affinity)
    kinds = {name: kind for name, kind in s.execute(select(NetworkRow.name, NetworkRow.kind))}
    results, updates, events, placed = [], [], [], []
    for b in bindings:
        instance = instances.get(b.instance_id)
        error = refusal(b, instance, hosts.get(b.host), usage.get(b.host, IDLE), kinds)
        if error is not None or instance is None:
            results.append(BindResult(b.instance_id, error=error))
            continue
        new = instances[b.instance_id] = bound(instance, b, now)  # seen by a later binding
        usage[b.host] = usage.get(b.host, IDLE).plus(new)
        updates.append({"id": new.id, "state": new.state.value, "host": b.host,
                        "generation": new.generation, "spec": spec_doc(new.spec),
                        "status": status_doc(new.status), "updated_at": now})
        events.append(convert.event_row(
            EventFacts(EventKind.INSTANCE_PLACED, "scheduler", new.owner, instance.state,
                       new.state, new.spec.resources),
            instance_id=new.id, host=b.host, at=now,
            message=event_message(b, instance.state, new.state)))
        results.append(BindResult(b.instance_id, instance=new))
        placed.append(new)
    if updates:  # executemany: one statement, however many were bound
        # No ORM object of these rows is loaded in this session: nothing to synchronize
        # (the default looks each row up in the identity map).
        s.execute(update(InstanceRow), updates,
                  execution_options={"synchronize_session": False})
        s.execute(insert(EventRow), events)
        claims.add_for(s, placed, now)
    return results
