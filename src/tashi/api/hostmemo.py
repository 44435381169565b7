"""The wire form of each host as last sent, reused while the host is unchanged.

A scheduler's snapshot carries every host (thousands), and validating that many
:class:`~tashi.api.schemas.HostOut` is most of a snapshot's cost; between two snapshots
only the hosts bound to, heartbeating or changed differ. One memo per app.
"""

from __future__ import annotations

from collections.abc import Sequence

from tashi.api.convert import host_out
from tashi.api.schemas import HostOut
from tashi.manager.hosts import HostView


class HostOutMemo:
    def __init__(self) -> None:
        self._last: dict[str, tuple[HostView, HostOut]] = {}

    def __call__(self, views: Sequence[HostView]) -> list[HostOut]:
        """``host_out`` of each view, reusing the last answer for views equal to the last."""
        last, now = self._last, {}
        out = []
        for v in views:
            hit = last.get(v.host.name)
            wire = hit[1] if hit is not None and hit[0] == v else host_out(v)
            now[v.host.name] = (v, wire)
            out.append(wire)
        self._last = now  # hosts gone since are forgotten
        return out
