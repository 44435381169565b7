"""The usage reports agents send (:mod:`tashi.domain.usage`): counted once each into
the usage records, their figures kept as each instance's latest (shown with it).

An agent speaks for its own host only: a report naming an instance bound elsewhere is
refused whole (403), figures of instances gone or bound to none are skipped. Figures
that cannot be (a negative byte count, a naive start time) refuse the whole report with
400, a report counted already (or older) with 409: nothing is counted then. Counting
writes no instance row (see :meth:`tashi.store.base.Store.count_usage`).
"""

from __future__ import annotations

import logging

from tashi.common.clock import Clock
from tashi.domain.errors import InvalidInput
from tashi.domain.usage import UsageReport, UsageSample
from tashi.store.base import Store

log = logging.getLogger(__name__)


class UsageService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def record(self, report: UsageReport) -> int:
        """Count ``report`` (:meth:`tashi.store.base.Store.count_usage`); how many
        instances it counted. InvalidInput (nothing counted) for impossible figures."""
        for instance_id, usage in report.figures:
            if problems := usage.problems():
                raise InvalidInput(f"host {report.host}: usage of instance {instance_id}: "
                                   f"{'; '.join(problems)}; nothing counted")
        counted = self._store.count_usage(report, self._clock.now())
        if counted < len(report.figures):
            log.info("host %s: usage report %d: %d of %d instances counted (the others "
                     "are gone, bound to no host, or measured before)", report.host,
                     report.seq, counted, len(report.figures))
        return counted

    def latest(self, instance_id: int) -> UsageSample | None:
        """The instance's latest figures (None: none measured yet)."""
        return self._store.get_usage(instance_id)
