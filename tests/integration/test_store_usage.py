"""The store contract's usage figures (``Store.put_usage``, ``Store.get_usage``), on
every store of ``test_store_contract.STORES``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import func, select

from tashi.domain.errors import NotFound
from tashi.domain.usage import UsageSample, VmUsage
from tashi.store.base import Store
from tashi.store.sql.tables import UsageRow
from tests.integration.test_store_contract import STORES, new_instance, opened

AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest) -> Iterator[Store]:
    with opened(STORES[request.param](request, "store")) as store:
        yield store


def sample(instance_id: int, cpu_seconds: float, *, host: str = "node1",
           at: datetime = AT, net: int | None = None) -> UsageSample:
    return UsageSample(instance_id, host, at, VmUsage(
        started_at=AT - timedelta(hours=1), cpu_seconds=cpu_seconds,
        memory_rss_bytes=300 << 20, disk_read_bytes=5 << 40,  # past 32 bits
        disk_written_bytes=7, net_rx_bytes=net, net_tx_bytes=net))


def usage_rows(store: Store) -> int:
    """The rows of the usage table (a SQL store's; the pickle store is one too)."""
    engine = store._engine  # type: ignore[attr-defined]
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(UsageRow)))


def test_the_latest_sample_replaces_the_one_before(store: Store) -> None:
    web, db = new_instance(store, "web"), new_instance(store, "db")
    assert store.get_usage(web.id) is None
    assert store.put_usage([sample(web.id, 1.0), sample(db.id, 2.0, net=10)]) == 2
    assert store.get_usage(web.id) == sample(web.id, 1.0)
    assert store.get_usage(db.id) == sample(db.id, 2.0, net=10)
    later = sample(web.id, 3.5, host="node2", at=AT + timedelta(seconds=10))
    assert store.put_usage([later]) == 1
    assert store.get_usage(web.id) == later
    assert store.get_usage(db.id) == sample(db.id, 2.0, net=10)  # untouched


def test_times_come_back_in_utc(store: Store) -> None:
    web = new_instance(store)
    plus_two = timezone(timedelta(hours=2))
    store.put_usage([sample(web.id, 1.0, at=AT.astimezone(plus_two))])
    kept = store.get_usage(web.id)
    assert kept is not None
    assert kept.at == AT
    assert kept.at.tzinfo == UTC
    assert kept.usage.started_at.tzinfo == UTC


def test_a_batch_keeps_the_last_sample_of_an_instance_and_skips_the_unknown(
        store: Store) -> None:
    web = new_instance(store)
    assert store.put_usage([sample(web.id, 1.0), sample(999, 1.0), sample(web.id, 2.0)]) == 1
    kept = store.get_usage(web.id)
    assert kept is not None
    assert kept.usage.cpu_seconds == 2.0
    assert store.put_usage([]) == 0
    with pytest.raises(NotFound, match="instance 999 not found"):
        store.get_usage(999)


def test_figures_write_no_instance_row_and_go_with_the_instance(store: Store) -> None:
    web = new_instance(store)
    events = len(store.list_events(limit=1000))
    store.put_usage([sample(web.id, 1.0)])
    assert store.get_instance(web.id) == web  # no generation, status or time changed
    assert len(store.list_events(limit=1000)) == events
    assert usage_rows(store) == 1
    store.delete_instance(web.id, generation=web.generation)
    assert usage_rows(store) == 0
