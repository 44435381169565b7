"""A completed migration's figures: QEMU marks it completed a moment before it
computes its total time and downtime (CI once saw both read 0)."""

import asyncio
from typing import Any, cast

from tashi.agent.drivers.qemu import migration
from tashi.agent.drivers.qemu.qmp import QmpSession


class CompletingQemu:
    """QEMU's source side in that moment: completed, its figures still 0, its run
    state finish-migrate for ``lag`` queries, then postmigrate with the figures."""

    def __init__(self, lag: int) -> None:
        self.lag = lag
        self.calls: list[str] = []

    def _done(self) -> bool:
        return self.calls.count("query-status") > self.lag

    async def status(self) -> str:
        self.calls.append("query-status")
        return "postmigrate" if self._done() else "finish-migrate"

    async def execute(self, command: str, arguments: Any = None) -> Any:
        self.calls.append(command)
        if command == "query-migrate":
            figures = {"total-time": 812, "downtime": 17} if self._done() else {
                "total-time": 0, "downtime": 0}
            return {"status": "completed", **figures}
        if command == "query-named-block-nodes":
            return []
        raise AssertionError(f"unexpected QMP command {command}")


def test_the_figures_wait_for_qemu_to_compute_them() -> None:
    qemu = CompletingQemu(lag=3)
    sent = asyncio.run(migration._figures(cast(QmpSession, qemu), 4096))
    assert (sent.total_ms, sent.downtime_ms, sent.disks_bytes) == (812, 17, 4096)
    assert qemu.calls.count("query-status") == 4


def test_figures_already_there_cost_one_status_query() -> None:
    qemu = CompletingQemu(lag=0)
    sent = asyncio.run(migration._figures(cast(QmpSession, qemu)))
    assert (sent.total_ms, sent.downtime_ms) == (812, 17)
    assert qemu.calls[:2] == ["query-status", "query-migrate"]
