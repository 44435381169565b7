"""The pickle store's batches, applied to a draft of its state (see
:class:`~tashi.store.picklefile.store.PickleStore`): the draft is kept only if the
whole batch succeeds, and the store's lock keeps every other writer out meanwhile."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from tashi.domain.errors import Conflict
from tashi.domain.models import Event, Instance, InstanceStatus, NewInstance
from tashi.domain.states import HOLDS_RESOURCES, InstanceState
from tashi.store.binding import (
    IDLE,
    Binding,
    BindResult,
    bound,
    event_message,
    refusal,
    usage_of,
)
from tashi.store.imageuse import check_image_use, check_images_exist, images_of, uses_of
from tashi.store.picklefile.state import State


def create_instances(st: State, news: Sequence[NewInstance], event: str | None,
                     now: datetime) -> list[Instance]:
    taken = {(i.owner, i.name) for i in st.instances.values()}
    asked: set[tuple[str, str]] = set()
    for new in news:
        key = (new.owner, new.name)
        if key in asked:
            raise Conflict(f"instance {new.name!r} of {new.owner!r} is asked twice")
        if key in taken:
            raise Conflict(f"instance {new.name!r} of {new.owner!r} already exists")
        asked.add(key)
    images = images_of(news)
    check_images_exist(images, st.images)
    check_image_use(news, (u for u in uses_of(st.instances.values()) if u.image in images))
    created = []
    for new in news:
        inst = Instance(id=st.take_id("instances"), name=new.name, owner=new.owner,
                        state=InstanceState.PENDING, spec=new.spec, status=InstanceStatus(),
                        generation=1, created_at=now, updated_at=now)
        st.instances[inst.id] = inst
        created.append(inst)
        if event is not None:
            st.events.append(Event(id=st.take_id("events"), instance_id=inst.id,
                                   host=new.spec.host, message=event, at=now))
    return created


def bind_instances(st: State, bindings: Sequence[Binding], now: datetime) -> list[BindResult]:
    usage = usage_of(i for i in st.instances.values() if i.state in HOLDS_RESOURCES)
    results = []
    for b in bindings:
        instance = st.instances.get(b.instance_id)
        error = refusal(b, instance, st.hosts.get(b.host), usage.get(b.host, IDLE))
        if error is not None or instance is None:
            results.append(BindResult(b.instance_id, error=error))
            continue
        new = st.instances[b.instance_id] = bound(instance, b, now)
        usage[b.host] = usage.get(b.host, IDLE).plus(new)
        st.events.append(Event(id=st.take_id("events"), instance_id=new.id, host=b.host,
                               message=event_message(b), at=now))
        results.append(BindResult(b.instance_id, instance=new))
    return results
