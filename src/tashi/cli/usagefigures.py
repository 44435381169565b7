"""An instance's usage figures in ``tashi vm show``: CPU, memory, disk and network,
each counted since its VM's process started, and when and where they were measured."""

from __future__ import annotations

from datetime import datetime

from tashi.api.schemas import UsageOut
from tashi.cli.render import age, size
from tashi.domain.usage import NET_NOT_MEASURED


def usage_fields(usage: UsageOut | None, now: datetime | None = None) -> list[tuple[str, str]]:
    """The ``vm show`` lines of ``usage`` (one line when none was measured yet)."""
    if usage is None:
        return [("usage", "not measured yet")]
    u = usage
    net = (NET_NOT_MEASURED if u.net_rx_bytes is None or u.net_tx_bytes is None
           else f"{size(u.net_rx_bytes)} received, {size(u.net_tx_bytes)} sent")
    return [
        ("usage", f"measured {age(u.at, now)} ago on host {u.host}, counted since its "
                  f"process started {age(u.started_at, now)} ago"),
        ("  cpu", f"{u.cpu_seconds:.1f} s"),
        ("  memory", f"{size(u.memory_rss_bytes)} resident"),
        ("  disk", f"{size(u.disk_read_bytes)} read, {size(u.disk_written_bytes)} written"),
        ("  network", net),
    ]
