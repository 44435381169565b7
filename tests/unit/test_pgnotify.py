"""The PostgreSQL notifier's pure parts: which notifier a store URL gets, the payloads,
what a notification does to revisions (no database: the wiring is in
tests/integration/test_notifier_replicas.py)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tashi.manager.notifier import PENDING, Notifier, host_key
from tashi.manager.pgnotify import MAX_PAYLOAD, Backoff, PgNotifier, decode, encode, notifier_for


@pytest.mark.parametrize("url", ["sqlite:///tashi.db", "sqlite:////var/lib/tashi/tashi.db",
                                 "pickle:///var/lib/tashi/state.pickle"])
def test_single_process_stores_keep_the_in_process_notifier(url: str) -> None:
    notifier = notifier_for(url)
    assert type(notifier) is Notifier


@pytest.mark.parametrize("url", ["postgresql://tashi:pw@db.example/tashi",
                                 "postgresql+psycopg://tashi:pw@db.example/tashi",
                                 "postgres://tashi:pw@db.example/tashi"])
def test_postgresql_gets_the_notifier_across_replicas(url: str) -> None:
    notifier = notifier_for(url)
    assert isinstance(notifier, PgNotifier)
    assert "pw" not in notifier._database
    assert "***" in notifier._database


def test_payloads_round_trip_and_stay_under_the_limit() -> None:
    keys = [host_key(f"h{i:05d}") for i in range(3000)] + [PENDING]
    payloads = encode("b00t", keys)
    assert len(payloads) > 1
    assert all(len(p.encode()) <= MAX_PAYLOAD for p in payloads)
    decoded = [decode(p) for p in payloads]
    assert all(d is not None and d[0] == "b00t" for d in decoded)
    assert [k for d in decoded if d for k in d[1]] == keys
    assert encode("b00t", []) == []


@pytest.mark.parametrize("payload", ["", "not json", "[]", json.dumps({"from": 1, "keys": []}),
                                     json.dumps({"from": "x", "keys": [1]})])
def test_foreign_payloads_are_not_decoded(payload: str) -> None:
    assert decode(payload) is None


def test_backoff_doubles_up_to_its_most() -> None:
    b, delays, d = Backoff(0.5, 3.0), [], 0.0
    for _ in range(5):
        d = b.next(d)
        delays.append(d)
    assert delays == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_a_notification_moves_revisions_on_unless_it_is_our_own() -> None:
    n = PgNotifier("postgresql:///nowhere", "postgresql:///nowhere")
    before = n.revision(PENDING)
    n._received(encode(n.boot_id, [PENDING])[0])  # our own echo: the bump woke us already
    assert n.revision(PENDING) == before
    n._received(encode("other", [PENDING])[0])
    assert n.revision(PENDING) != before
    host = n.revision(host_key("h1"))
    n._received("garbage")  # not ours to read: assume anything changed
    assert n.revision(host_key("h1")) != host


async def test_wake_all_answers_every_watcher() -> None:
    n = Notifier()
    n.attach(asyncio.get_running_loop())
    revs = {k: n.revision(k) for k in (PENDING, host_key("h1"))}
    watches = [asyncio.create_task(n.wait(k, r, 30)) for k, r in revs.items()]
    await asyncio.sleep(0.05)
    assert not any(w.done() for w in watches)
    n.wake_all()
    answers = await asyncio.wait_for(asyncio.gather(*watches), 5)
    assert answers == [n.revision(k) for k in revs]
    assert all(a != r for a, r in zip(answers, revs.values(), strict=True))
