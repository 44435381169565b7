"""Accounting of a real QEMU VM through manager, scheduler and agent processes, the
agent and the manager killed (``kill -9``) while reports flow: the records match the
events to the second (allocated), and the VM's own CPU counter (consumed), with no gap
and nothing counted twice."""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tashi.api.schemas import InstanceCreate
from tashi.client import TashiClient
from tashi.store.sql import SqlStore
from tashi.store.sql.tables import UsageClosingRow, UsageRecordRow
from tests.e2e.conftest import Proc, Stack, qemu_pids, running_stack, wait_state

pytestmark = pytest.mark.e2e

INTERVAL_S = 10  # short intervals: several close while the test runs
MEMORY_MIB = 128


@dataclass
class AccountingStack(Stack):
    """The e2e stack with 10 s usage intervals closed promptly and a report a second."""

    def manager(self) -> Proc:
        proc = super().manager()
        proc.env.update({"TASHI_USAGE_INTERVAL_S": str(INTERVAL_S),
                         "TASHI_USAGE_GRACE_S": "2", "TASHI_USAGE_CLOSE_EVERY_S": "1"})
        return proc

    def agent(self) -> Proc:
        proc = super().agent()
        proc.env["TASHI_AGENT_USAGE_EVERY_S"] = "1"
        return proc

    def restart(self, name: str) -> None:
        self.procs[name].kill9()
        self.start(name)
        if name == "manager":
            self.wait_manager()


def qemu_cpu_seconds(pid: int) -> float:
    """The QEMU process's own user + system CPU time, as the kernel counts it."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def totals(store: SqlStore, instance_id: int) -> tuple[float, float, float]:
    """The instance's core-seconds, MiB-seconds and CPU seconds used, over every record."""
    rec = UsageRecordRow
    with store._read.begin() as s:
        core, mib, cpu = s.execute(select(func.sum(rec.core_seconds),
                                          func.sum(rec.memory_mib_seconds),
                                          func.sum(rec.cpu_seconds_used))
                                   .where(rec.instance_id == instance_id)).one()
        return float(core or 0), float(mib or 0), float(cpu or 0)


async def counted_until(store: SqlStore, when: datetime, timeout_s: float = 60) -> None:
    """Until the intervals up to ``when`` are closed."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        with store._read.begin() as s:
            mark = s.scalar(select(UsageClosingRow.closed_until))
        if mark is not None and mark >= when.timestamp():
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"usage not closed up to {when} within {timeout_s} s")
        await asyncio.sleep(0.5)


async def test_records_match_events_and_counters_through_kill_9(tmp_path: Path,
                                                                 guest_image: Path) -> None:
    st = AccountingStack(tmp_path)
    async with running_stack(st, guest_image) as (_, client):
        store = SqlStore(f"sqlite:///{tmp_path}/tashi.db")
        try:
            await _run(st, client, store)
        finally:
            store.close()


async def _run(st: AccountingStack, client: TashiClient, store: SqlStore) -> None:
    inst = await client.create_instance(InstanceCreate.model_validate(
        {"name": "billed", "image": "guest", "cores": 1, "memory_mib": MEMORY_MIB}))
    await wait_state(client, inst.id, "Running")
    [pid] = qemu_pids(inst.id, st.agent_state)
    for victim, pause_s in (("agent", 2.5), ("manager", 1.7), ("agent", 3.2),
                            ("manager", 2.9), ("agent", 0.6)):
        await asyncio.sleep(pause_s)  # reports flow each second: killed amid one
        st.restart(victim)
    await asyncio.sleep(4)  # the last agent reports a few times

    st.procs["agent"].stop()  # no report from here on: what was counted stays put
    counted = (await client.get_instance(inst.id)).usage
    assert counted is not None
    used_now = qemu_cpu_seconds(pid)
    _, _, cpu = totals(store, inst.id)
    assert cpu == pytest.approx(counted.cpu_seconds, abs=1e-6)  # nothing counted twice
    assert used_now - 3.0 <= counted.cpu_seconds <= used_now  # and no gap: all but the last
    # seconds (the agent stopped within them) of what the kernel counted for the VM

    st.start("agent")
    await wait_state(client, inst.id, "Running")
    await client.destroy_instance(inst.id)
    events: dict[str, datetime] = {}
    for _ in range(240):
        events = {str(e.kind): e.at
                  for e in await client.list_events(instance=inst.id, limit=1000)}
        if "instance.deleted" in events:
            break
        await asyncio.sleep(0.25)
    placed, deleted = events["instance.placed"], events["instance.deleted"]
    await counted_until(store, deleted)
    core_s, mib_s, cpu = totals(store, inst.id)
    held_s = (deleted - placed).total_seconds()
    assert core_s == pytest.approx(held_s, abs=1.0)  # 1 core, to the second
    assert mib_s == pytest.approx(MEMORY_MIB * held_s, abs=MEMORY_MIB)
    assert cpu >= counted.cpu_seconds  # its last figures, measured before it ended
    with store._read.begin() as s:
        starts = s.scalars(select(UsageRecordRow.start_s)
                           .where(UsageRecordRow.instance_id == inst.id,
                                  UsageRecordRow.core_seconds > 0)
                           .order_by(UsageRecordRow.start_s)).all()
    assert starts == [starts[0] + INTERVAL_S * i for i in range(len(starts))]  # no gap
    assert len(starts) >= held_s // INTERVAL_S
