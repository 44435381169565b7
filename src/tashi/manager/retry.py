"""Retrying failed starts: Held instances go back to Pending, with backoff, avoiding
the host where they failed.

An instance whose start failed on a host is Held and off that host (see
:mod:`tashi.manager.reports`, which records the failure in its status). This
controller looks at the Held instances with failed starts, level-triggered:

- after ``backoff_s * 2^(attempts-1)`` (at most ``max_backoff_s``) from the last
  failure, it returns the instance to Pending, with the failing host in the
  status's ``avoid`` list until ``avoid_s`` after that failure (the scheduler
  places it elsewhere meanwhile);
- until then, the status says when the next try is due (``retry_at``, which the
  report of the failure set to "now", pending this controller's look);
- after ``max_attempts`` failed starts the instance stays Held, saying why, and
  ``retry_at`` is unset.

Held instances without failed starts (held for another reason) are left alone.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from tashi.common.clock import Clock
from tashi.domain.errors import Conflict, NotFound
from tashi.domain.models import AvoidedHost, Instance
from tashi.domain.states import InstanceState
from tashi.manager.instances import InstanceService
from tashi.store.base import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    backoff_s: float = 5.0  # before the first retry; doubled for each failure after it
    max_backoff_s: float = 300.0
    avoid_s: float = 600.0  # how long the failing host is avoided
    max_attempts: int = 5  # failed starts before the instance stays Held

    def delay(self, attempts: int) -> timedelta:
        """The wait after the ``attempts``-th failed start."""
        seconds = self.backoff_s * 2 ** max(0, attempts - 1)
        return timedelta(seconds=min(seconds, self.max_backoff_s))


class RetryController:
    def __init__(self, store: Store, clock: Clock, instances: InstanceService,
                 policy: RetryPolicy) -> None:
        self._store = store
        self._clock = clock
        self._instances = instances
        self.policy = policy

    def run_once(self) -> int:
        """One look at every Held instance; return how many went back to Pending."""
        now = self._clock.now()
        retried = 0
        for inst in self._store.list_instances(states=[InstanceState.HELD]):
            if not inst.status.failures:
                continue
            try:
                retried += self._consider(inst, now)
            except (Conflict, NotFound) as exc:  # changed meanwhile: the next look decides
                log.info("instance %d (%s): retry not applied: %s", inst.id, inst.name,
                         exc.message)
        return retried

    def _consider(self, inst: Instance, now: datetime) -> int:
        status, policy = inst.status, self.policy
        last = status.failures[-1]
        if status.attempts >= policy.max_attempts:
            message = (f"gave up after {status.attempts} failed starts; the last, on host "
                       f"{last.host}: {last.reason}")
            if status.message != message or status.retry_at is not None:
                log.warning("instance %d (%s): %s", inst.id, inst.name, message)
                self._store.set_instance_status(inst.id, replace(
                    status, message=message, retry_at=None, observed_at=now))
            return 0
        due = last.at + policy.delay(status.attempts)
        try_no = f"try {status.attempts + 1} of {policy.max_attempts}"
        if now < due:
            if status.retry_at != due:
                self._store.set_instance_status(inst.id, replace(
                    status, retry_at=due, observed_at=now,
                    message=f"{last.reason}; {try_no} at {due:%H:%M:%S} UTC"))
            return 0
        until = last.at + timedelta(seconds=policy.avoid_s)
        avoid = (*(a for a in status.avoid if a.until > now and a.host != last.host),
                 AvoidedHost(last.host, until))
        why = (f"{try_no}, avoiding host {last.host} until {until:%H:%M:%S} UTC; "
               f"the last start failed: {last.reason}")
        back = self._store.set_instance_status(inst.id, replace(
            status, avoid=avoid, retry_at=None, message=why, observed_at=now, held=False))
        self._instances.changed(inst, back, why)
        return 1


async def retry_loop(controller: RetryController, interval_s: float) -> None:
    """Run :meth:`RetryController.run_once` every ``interval_s`` until cancelled."""
    while True:
        try:
            await asyncio.to_thread(controller.run_once)
        except Exception:
            log.exception("retrying Held instances failed; trying again")
        await asyncio.sleep(interval_s)
