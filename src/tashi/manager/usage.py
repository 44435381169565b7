"""The usage figures agents send (:mod:`tashi.domain.usage`): kept, the latest per
instance, and shown with the instance.

An agent speaks for its own host only: figures of an instance bound elsewhere (or of
none) are ignored and logged, as its console tails are. Figures that cannot be (a
negative byte count, a naive start time) refuse the whole request with 400, before
anything is kept. Keeping a sample writes no instance row (see
:meth:`tashi.store.base.Store.put_usage`).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from tashi.common.clock import Clock
from tashi.domain.errors import InvalidInput
from tashi.domain.usage import UsageSample, VmUsage
from tashi.store.base import Store

log = logging.getLogger(__name__)


class UsageService:
    def __init__(self, store: Store, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def record(self, host: str, figures: Sequence[tuple[int, VmUsage]]) -> int:
        """Keep the figures ``host``'s agent measured, of the instances bound there; how
        many were kept. InvalidInput (nothing kept) for impossible figures."""
        for instance_id, usage in figures:
            if problems := usage.problems():
                raise InvalidInput(f"host {host}: usage of instance {instance_id}: "
                                   f"{'; '.join(problems)}")
        if not figures:
            return 0
        bound = {i.id for i in self._store.list_instances(host=host)}
        foreign = sorted({i for i, _ in figures} - bound)
        if foreign:
            log.warning("host %s sent the usage of instances %s, not bound there: ignored",
                        host, ", ".join(map(str, foreign)))
        now = self._clock.now()
        return self._store.put_usage([UsageSample(i, host, now, u) for i, u in figures
                                      if i in bound])

    def latest(self, instance_id: int) -> UsageSample | None:
        """The instance's latest figures (None: none measured yet)."""
        return self._store.get_usage(instance_id)
