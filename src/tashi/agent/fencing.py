"""The agent's half of an HA lease (see :mod:`tashi.domain.ha`): when the manager has
not answered a heartbeat for its lease (less a margin), the agent pauses its HA
instances and does nothing more with them, because the manager may restart them on
another host. Once a heartbeat is answered again, a fresh desired state decides: an
instance still bound here is unpaused, one now bound elsewhere is destroyed.

Which instances are HA is kept in a file of the state directory, so that an agent
restarted while the manager is away still knows whom to pause.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

from tashi.common.files import write_private
from tashi.domain.desired import DesiredInstance
from tashi.domain.ha import fence_after_s

log = logging.getLogger(__name__)

#: Seconds between the agent's looks at its leases.
FENCE_TICK_S = 0.5
HA_FILE = "ha.json"


class HaLeases:
    """The HA instances this host runs, with the lease of each, and when the manager
    last answered a heartbeat (by the agent's monotonic clock)."""

    def __init__(self, host: str, now: float, path: Path | None = None) -> None:
        """``now``: the agent's start (it counts as heard: no lease runs out sooner);
        ``path``: where the HA instances are kept across restarts (None: in memory)."""
        self._host = host
        self._path = path
        self.heard_at = now
        self.leases: dict[int, float] = self._load()

    def _load(self) -> dict[int, float]:
        if self._path is None:
            return {}
        try:
            doc = json.loads(self._path.read_text(encoding="utf-8"))
            return {int(k): float(v) for k, v in doc["leases"].items()}
        except FileNotFoundError:
            return {}
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            log.error("host %s: %s unreadable (%s); no HA instance known until the "
                      "manager answers", self._host, self._path, exc)
            return {}

    def heard(self, at: float) -> None:
        """A heartbeat sent at ``at`` (before it left) was answered."""
        self.heard_at = max(self.heard_at, at)

    def take(self, desired: Sequence[DesiredInstance]) -> None:
        """The HA instances of a desired state the manager sent (kept on disk)."""
        leases = {d.id: d.ha_lease_s for d in desired if d.ha_lease_s > 0}
        if leases == self.leases:
            return
        self.leases = leases
        if self._path is not None:
            write_private(self._path, json.dumps({"leases": {str(k): v for k, v in
                                                             sorted(leases.items())}}))

    def due(self, now: float) -> list[int]:
        """The HA instances whose lease ran out by ``now`` (less the margin) since the
        manager last answered."""
        silent_s = now - self.heard_at
        return sorted(i for i, lease in self.leases.items() if silent_s >= fence_after_s(lease))
