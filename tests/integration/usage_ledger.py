"""A month's end of usage, written into a store before a manager opens it: the
instances are created, bound and deleted through the store with a clock the test
moves, some consumption is added as the agents' reports would add it, and the
intervals are closed up to :data:`CLOSED_UNTIL`.

The times are in 2030 so that the manager's own closing loop (on the real clock) finds
nothing due: the figures and the closing mark stay what this module wrote.

What is held (cores, MiB; each interval is an hour):

- alice's ``web``, 2 cores, 1024 MiB, on node1, 2030-11-30 22:00 → 2030-12-01 01:30
  (across midnight and the month's end): 7 core-hours;
- alice's ``db``, 4 cores, 2048 MiB, on node2, 2030-11-30 23:00 → 2030-12-01 00:30:
  6 core-hours;
- bob's ``batch``, 1 core, 512 MiB, on node1, 2030-11-29 10:00 → 12:00: 2 core-hours.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from tashi.domain.models import Instance, NewInstance
from tashi.store.sql import SqlStore, migrate
from tashi.store.sql.tables import UsageRecordRow
from tests.integration.test_store_contract import given_images, spec

GIB = 2**30
CLOSED_UNTIL = datetime(2030, 12, 1, 3, 0, tzinfo=UTC)
#: (name, owner, cores, MiB, host, from, to)
HELD = [
    ("batch", "bob", 1, 512, "node1", datetime(2030, 11, 29, 10, tzinfo=UTC),
     datetime(2030, 11, 29, 12, tzinfo=UTC)),
    ("web", "alice", 2, 1024, "node1", datetime(2030, 11, 30, 22, tzinfo=UTC),
     datetime(2030, 12, 1, 1, 30, tzinfo=UTC)),
    ("db", "alice", 4, 2048, "node2", datetime(2030, 11, 30, 23, tzinfo=UTC),
     datetime(2030, 12, 1, 0, 30, tzinfo=UTC)),
]
#: What the agents reported: (instance, interval start, CPU s, read, written, rx, tx).
CONSUMED = [
    ("batch", datetime(2030, 11, 29, 10, tzinfo=UTC), 10.0, 100, 200, GIB, 0),
    ("web", datetime(2030, 11, 30, 23, tzinfo=UTC), 100.5, 1000, 2000, 3 * GIB, GIB),
    ("web", datetime(2030, 12, 1, 0, tzinfo=UTC), 20.0, 10, 20, GIB, GIB),
    ("db", datetime(2030, 12, 1, 0, tzinfo=UTC), 50.0, 5, 6, None, None),
]
#: Reported in the interval still open at the closing mark: no report may show it.
OPEN = [("web", CLOSED_UNTIL, 7.0, 1, 1, 1, 1)]


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def fill(url: str) -> None:
    """Migrate the store at ``url`` and write the usage above into it (hosts node1 and
    node2 made too); close it again."""
    migrate(url)
    clock = Clock(HELD[0][5])
    store = SqlStore(url, clock=clock)
    try:
        store.create_host("node1", cores=64, memory_mib=262144)
        store.create_host("node2", cores=64, memory_mib=262144)
        made: dict[str, Instance] = {}
        events = sorted([(since, "bind", name) for name, *_, since, _ in HELD]
                        + [(until, "delete", name) for name, *_, until in HELD])
        for at, what, name in events:
            clock.at = at
            if what == "bind":
                made[name] = _bound(store, name)
            else:
                current = store.get_instance(made[name].id)
                store.delete_instance(current.id, generation=current.generation)
        _consume(store, made, CONSUMED)
        clock.at = CLOSED_UNTIL
        while store.close_usage(CLOSED_UNTIL).intervals:
            pass
        _consume(store, made, OPEN)
        assert store.usage_closing().closed_until == CLOSED_UNTIL
    finally:
        store.close()


def _bound(store: SqlStore, name: str) -> Instance:
    _, owner, cores, mib, host, *_ = next(h for h in HELD if h[0] == name)
    inst = store.create_instance(*given_images(store, NewInstance(
        name=name, owner=owner, spec=spec(cores=cores, memory_mib=mib))))
    return store.update_instance(inst.id, generation=inst.generation,
                                 spec=replace(inst.spec, host=host))


def _consume(store: SqlStore, made: dict[str, Instance],
             reported: Sequence[tuple[str, datetime, float, int, int, int | None, int | None]],
             ) -> None:
    """The reports' part of the records, as counting them writes it."""
    with store._write.begin() as s:
        for name, start, cpu, read, written, rx, tx in reported:
            inst = made[name]
            s.execute(insert(UsageRecordRow).values(
                instance_id=inst.id, host=inst.spec.host, start_s=start.timestamp(),
                length_s=3600, instance=name, user_name=inst.owner, cpu_seconds_used=cpu,
                disk_read_bytes=read, disk_written_bytes=written, net_rx_bytes=rx,
                net_tx_bytes=tx))


HOUR = timedelta(hours=1)
