"""The leader's timing (:mod:`tashi.manager.leadership`), on a fake store and a fake
clock: it renews every third of the lease, leads only until its last renewal's start +
lease - margin, and so stops before any other replica can acquire."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from tashi.domain.leases import LEADER, Lease
from tashi.manager.leadership import Leadership, while_leading
from tashi.store.fencing import current_fence


@dataclass
class Clock:
    t: float = 1000.0

    def __call__(self) -> float:
        return self.t


@dataclass
class FakeLeases:
    """The store's lease contract, on the test's clock (standing in for the database's);
    ``delay_s``: how long each call takes (the clock moves on), ``down``: calls fail."""

    clock: Clock
    rows: dict[str, tuple[str, int, float]] = field(default_factory=dict)
    delay_s: float = 0.0
    down: bool = False
    calls: list[str] = field(default_factory=list)

    def _enter(self, what: str) -> float:
        self.calls.append(what)
        if self.down:
            raise ConnectionError("the database is down")
        self.clock.t += self.delay_s  # the statement runs at the end of the delay
        return self.clock.t

    def acquire_lease(self, name: str, holder: str, duration_s: float) -> Lease | None:
        now = self._enter("acquire")
        who, token, until = self.rows.get(name, ("", 0, 0.0))
        if until > now and who != holder:
            return None
        token = token if (who == holder and until > now) else token + 1
        self.rows[name] = (holder, token, now + duration_s)
        return self._lease(name)

    def renew_lease(self, name: str, holder: str, token: int,
                    duration_s: float) -> Lease | None:
        now = self._enter("renew")
        who, held, until = self.rows.get(name, ("", 0, 0.0))
        if (who, held) != (holder, token) or until <= now:
            return None
        self.rows[name] = (holder, token, now + duration_s)
        return self._lease(name)

    def release_lease(self, name: str, holder: str, token: int) -> bool:
        now = self._enter("release")
        who, held, until = self.rows.get(name, ("", 0, 0.0))
        if (who, held) != (holder, token) or until <= now:
            return False
        self.rows[name] = (who, held, now)
        return True

    def _lease(self, name: str) -> Lease:
        who, token, until = self.rows[name]
        return Lease(name, who, token, datetime.fromtimestamp(until, UTC))

    def expires(self, name: str = LEADER) -> float:
        return self.rows[name][2]


def two(lease_s: float = 10.0) -> tuple[Clock, FakeLeases, Leadership, Leadership]:
    clock = Clock()
    store = FakeLeases(clock)
    return (clock, store, Leadership(store, "a", lease_s=lease_s, monotonic=clock),
            Leadership(store, "b", lease_s=lease_s, monotonic=clock))


def test_the_first_to_try_leads_and_renews_every_third_of_the_lease() -> None:
    clock, store, a, b = two()
    assert not a.leads()
    assert a.token is None
    assert a.remaining_s() == 0
    assert a.round() == pytest.approx(10 / 3)
    assert a.leads()
    assert a.token == 1
    assert a.remaining_s() == pytest.approx(8.0)
    assert b.round() == pytest.approx(1.0)  # the others try every tenth
    assert not b.leads()
    clock.t += 10 / 3
    assert a.round() == pytest.approx(10 / 3)
    assert store.calls == ["acquire", "acquire", "renew"]
    assert a.token == 1
    assert a.remaining_s() == pytest.approx(8.0)


def test_it_stops_leading_a_margin_before_the_lease_can_be_taken() -> None:
    clock, store, a, b = two()
    a.round()
    started = clock.t
    store.down = True  # no renewal gets through from now on
    clock.t += 10 / 3
    a.round()
    assert a.leads()  # a failed renewal: it leads on until its deadline
    clock.t = started + 8.0 - 1e-6
    assert a.leads()
    clock.t = started + 8.0
    assert not a.leads()
    assert a.fence() is None
    store.down = False
    assert clock.t < store.expires()  # ... while nobody else may take it yet
    assert b.round()
    assert not b.leads()
    clock.t = store.expires()
    b.round()
    assert b.leads()
    assert b.token == 2
    assert a.round() == pytest.approx(1.0)
    assert not a.leads()


def test_the_deadline_counts_from_the_start_of_a_slow_renewal() -> None:
    clock, store, a, _ = two()
    a.round()
    store.delay_s = 3.0  # a renewal that takes 3 s: the database stamps its end
    clock.t += 10 / 3
    sent = clock.t
    a.round()
    assert a.remaining_s() == pytest.approx(8.0 - 3.0)
    assert sent + 8.0 < store.expires() - 2.0  # the margin kept, and the delay too


def test_a_lease_lost_to_another_is_dropped_at_the_next_round(
        caplog: pytest.LogCaptureFixture) -> None:
    clock, store, a, _ = two()
    caplog.set_level(logging.INFO, "tashi.manager.leadership")
    a.round()
    store.rows[LEADER] = ("b", 2, clock.t + 10)  # e.g. a's renewals were too slow
    a.round()
    assert not a.leads()
    said = caplog.text
    assert "replica a leads: lease 'manager-leader' acquired with token 1" in said
    assert "replica a no longer leads: lease 'manager-leader' (token 1): the lease was " \
           "taken over or expired" in said


def test_release_lets_the_next_replica_in_at_once() -> None:
    _, store, a, b = two()
    a.round()
    a.release()
    assert not a.leads()
    b.round()
    assert b.leads()
    assert b.token == 2
    assert a.round() == pytest.approx(1.0)
    assert not a.leads()
    assert store.calls.count("acquire") == 2


def test_a_lease_acquired_while_it_was_released_is_let_go() -> None:
    """A round under way when the app stops (release) must not leave the lease held."""
    clock = Clock()
    store = FakeLeases(clock)
    a = Leadership(store, "a", monotonic=clock)
    taking = store.acquire_lease

    def acquire_during_release(name: str, holder: str, duration_s: float) -> Lease | None:
        a.release()  # the app stops while the statement runs
        return taking(name, holder, duration_s)

    store.acquire_lease = acquire_during_release  # type: ignore[method-assign]
    a.round()
    assert not a.leads()
    assert store.calls == ["acquire", "release"]
    assert store.expires() == clock.t  # expired at once: the next replica may take it


def test_a_margin_must_leave_time_to_lead() -> None:
    with pytest.raises(ValueError, match="leaves no leading"):
        Leadership(FakeLeases(Clock()), "a", lease_s=3.0, margin_s=2.0)


async def test_leader_work_runs_fenced_only_while_it_leads() -> None:
    """Real asyncio, a short lease: the work starts on acquisition with the fence set
    (and carried into threads), and is cancelled at the deadline when renewals stop."""
    clock = Clock()
    store = FakeLeases(clock)
    a = Leadership(store, "a", lease_s=0.6, monotonic=asyncio.get_running_loop().time)
    seen: list[object] = []
    stopped = asyncio.Event()

    async def work() -> None:
        try:
            seen.append(await asyncio.to_thread(current_fence))
            await asyncio.sleep(3600)
        finally:
            stopped.set()

    runner = asyncio.create_task(a.run())
    leading = asyncio.create_task(while_leading(a, {"work": work}))
    try:
        await asyncio.wait_for(a.until_leading(), 2)
        while not seen:
            await asyncio.sleep(0.01)
        fence = seen[0]
        assert fence == a.fence()
        assert getattr(fence, "token", None) == 1
        assert current_fence() is None  # not here: only in the work's own context
        store.down = True
        lost_at = asyncio.get_running_loop().time()
        await asyncio.wait_for(stopped.wait(), 2)
        took = asyncio.get_running_loop().time() - lost_at
        assert took <= 0.6 - 0.12 + 0.1, took  # by its deadline, not the lease's end
    finally:
        for task in (runner, leading):
            task.cancel()
        await asyncio.gather(runner, leading, return_exceptions=True)
