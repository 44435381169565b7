"""Live migration between two QEMUs, the disks along (no shared storage assumed but the
image directory).

Target: QEMU started with ``-incoming defer`` (and ``share-rw=on`` on its disk devices,
so the NBD exports and the devices may both write), its writable disks exported over
NBD (``nbd-server-start``, ``block-export-add``), then ``migrate-incoming`` on a TCP
port. Without ``-S`` it runs as soon as the whole stream has come: only then.

Source: each writable disk mirrored to the target's export (``blockdev-mirror``:
``sync: top`` for an overlay, whose backing image both hosts share; ``full`` for blank
and scratch disks; ``copy-mode: write-blocking``, so once a mirror is ready every guest
write reaches both), then ``migrate`` with ``pause-before-switchover``: when QEMU has
stopped the guest for the last pass it waits; the mirrors are then completed
(``block-job-cancel`` of a ready mirror finishes copying and leaves the source on its
own disks), and ``migrate-continue`` sends the device state. Failure or a cancel before
that point lets the source's guest run on (QEMU restarts it), the mirrors dropped.

The target's endpoint is kept in its runtime directory (``incoming.json``), so a
restarted agent reports the same one; a migration under way is driven from what
``query-migrate`` says, so a restarted source agent takes up where the last one was.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from tashi.agent.drivers.qemu.qmp import QmpSession
from tashi.domain.errors import DriverError
from tashi.domain.migration import (
    IncomingEndpoint,
    MigrationProgress,
    MigrationTunables,
    Sent,
)

log = logging.getLogger(__name__)

INCOMING_FILE = "incoming.json"
POLL_S = 0.005  # query-migrate on a held session is cheap; the switchover waits on it
UNLIMITED = 64 * 1024**3  # bytes/s: as fast as the link takes it
FIGURES_WAIT_POLLS = 400  # of 5 ms: what QEMU takes from "completed" to its figures
MIRROR_NEAR_BYTES = 64 * 2**20  # disks left to mirror under which they are polled often
#: Seconds without a byte sent (memory or disks) after which the target is given up: a
#: cut link shows no error for minutes (TCP retries), and holds the guest's disk writes.
STALL_S = 10.0
MIRROR_PREFIX = "tashi-mirror-"
NODE_PREFIX = "tashi-nbd-"
#: query-migrate states in which the migration is still going on.
_UNDER_WAY = frozenset({"setup", "active", "pre-switchover", "device", "postcopy-active",
                        "postcopy-paused", "postcopy-recover", "wait-unplug"})

Progress = Callable[[MigrationProgress], None]


def free_port(address: str) -> int:
    """A TCP port free on ``address`` now (the kernel's choice)."""
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _host_part(address: str) -> str:
    return f"[{address}]" if ":" in address else address


# --- the target ---------------------------------------------------------------------------

def read_endpoint(root: Path) -> IncomingEndpoint | None:
    try:
        doc = json.loads((root / INCOMING_FILE).read_text())
        return IncomingEndpoint(int(doc["number"]), str(doc["uri"]), str(doc["nbd_host"]),
                                int(doc["nbd_port"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_endpoint(root: Path, endpoint: IncomingEndpoint, exports: list[str]) -> None:
    doc = {"number": endpoint.number, "uri": endpoint.uri, "nbd_host": endpoint.nbd_host,
           "nbd_port": endpoint.nbd_port, "exports": exports}
    partial = root / (INCOMING_FILE + ".partial")
    partial.write_text(json.dumps(doc))
    os.replace(partial, root / INCOMING_FILE)


def writable_disks(block: object) -> dict[str, str]:
    """``query-block``'s answer as device -> top node name, for the disks a migration
    carries (not read-only ones: a seed is made again from the spec on the target)."""
    out = {}
    for b in block if isinstance(block, list) else []:
        inserted = b.get("inserted") if isinstance(b, Mapping) else None
        if isinstance(inserted, Mapping) and not inserted.get("ro"):
            out[str(b["device"])] = str(inserted["node-name"])
    return out


async def serve_incoming(qmp: QmpSession, root: Path, address: str, number: int,
                         tunables: MigrationTunables) -> IncomingEndpoint:
    """Export the waiting VM's disks and listen for migration ``number``."""
    disks = writable_disks(await qmp.execute("query-block"))
    nbd_port, migration_port = free_port(address), free_port(address)
    await qmp.execute("nbd-server-start", {"addr": {"type": "inet", "data": {
        "host": address, "port": str(nbd_port)}}})
    for device, node in disks.items():
        await qmp.execute("block-export-add", {"type": "nbd", "id": f"export-{device}",
                                               "node-name": node, "name": device,
                                               "writable": True})
    await qmp.execute("migrate-set-capabilities", {"capabilities": _capabilities(
        tunables, source=False)})
    uri = f"tcp:{_host_part(address)}:{migration_port}"
    await qmp.execute("migrate-incoming", {"uri": uri})
    endpoint = IncomingEndpoint(number, uri, address, nbd_port)
    await asyncio.to_thread(_write_endpoint, root, endpoint, list(disks))
    return endpoint


async def stop_serving(qmp: QmpSession, root: Path) -> None:
    """The VM runs here now: its exports and the NBD server go (repeatable)."""
    try:
        exports = json.loads((root / INCOMING_FILE).read_text()).get("exports", [])
    except (OSError, ValueError):
        exports = []
    for device in exports:
        try:
            await qmp.execute("block-export-del", {"id": f"export-{device}", "mode": "hard"})
        except DriverError as exc:
            log.debug("%s: export of %s: %s", root.name, device, exc)
    try:
        await qmp.execute("nbd-server-stop")
    except DriverError as exc:
        log.debug("%s: nbd-server-stop: %s", root.name, exc)
    (root / INCOMING_FILE).unlink(missing_ok=True)


#: How the guest's NICs announce their new place (QEMU's ``announce-self``: gratuitous
#: RARPs, 50 ms after, then every 100 ms more, five rounds, as its own defaults).
ANNOUNCE = {"initial": 50, "max": 550, "rounds": 5, "step": 100}


async def announce(qmp: QmpSession) -> str:
    """Have the guest's NICs announce themselves, so the switches (bridges) of its new
    host learn its MAC addresses at once; what happened, in words."""
    try:
        await qmp.execute("announce-self", ANNOUNCE)
    except DriverError as exc:
        return f"announce-self refused: {exc}"
    return "its NICs announced (announce-self)"


def _capabilities(t: MigrationTunables, *, source: bool) -> list[dict[str, Any]]:
    caps = [("events", True), ("postcopy-ram", t.postcopy)]
    if source:
        caps += [("pause-before-switchover", True), ("auto-converge", t.auto_converge)]
    return [{"capability": name, "state": on} for name, on in caps]


# --- the source ---------------------------------------------------------------------------

async def send(qmp: QmpSession, endpoint: IncomingEndpoint, tunables: MigrationTunables,
               label: str, progress: Progress, cancel: asyncio.Event) -> Sent:
    """Carry the VM to ``endpoint`` (or take up a migration a previous agent began);
    DriverError if it failed, was cancelled or timed out (the guest then runs on
    here)."""
    state = await _migrate_state(qmp)
    if state == "completed" and await qmp.status() != "postmigrate":
        state = "none"  # this VM came here by migration: that one completed
    deadline = time.monotonic() + tunables.timeout_s
    try:
        if state == "completed":
            return await _figures(qmp)
        if state not in _UNDER_WAY:
            await _mirror_disks(qmp, endpoint, label, progress, cancel, deadline)
            await qmp.execute("migrate-set-capabilities", {"capabilities": _capabilities(
                tunables, source=True)})
            bandwidth = tunables.bandwidth_mib_s * 2**20 or UNLIMITED
            await qmp.execute("migrate-set-parameters", {
                "downtime-limit": tunables.max_downtime_ms, "max-bandwidth": bandwidth})
            await qmp.execute("migrate", {"uri": endpoint.uri})
            log.info("%s: sending its memory to %s", label, endpoint.uri)
        return await _follow(qmp, endpoint, tunables, label, progress, cancel, deadline)
    except BaseException:
        await _give_up(qmp, label)
        raise


async def _mirror_disks(qmp: QmpSession, endpoint: IncomingEndpoint, label: str,
                        progress: Progress, cancel: asyncio.Event, deadline: float) -> None:
    """Mirror each writable disk to the target's export; return once all are ready."""
    block = await qmp.execute("query-block")
    backed = {str(b["device"]) for b in (block if isinstance(block, list) else [])
              if isinstance(b.get("inserted"), Mapping) and b["inserted"].get("backing_file")}
    for device in writable_disks(block):
        node = NODE_PREFIX + device
        await qmp.execute("blockdev-add", {
            "driver": "nbd", "node-name": node, "export": device,
            "server": {"type": "inet", "host": endpoint.nbd_host,
                       "port": str(endpoint.nbd_port)}})
        await qmp.execute("blockdev-mirror", {
            "job-id": MIRROR_PREFIX + device, "device": device, "target": node,
            "sync": "top" if device in backed else "full", "copy-mode": "write-blocking"})
    stall = Stall(f"{label}: mirroring its disks to {endpoint.nbd_host}:{endpoint.nbd_port}")
    while True:
        jobs = await _mirrors(qmp)
        total = sum(int(j.get("len", 0)) for j in jobs) or 1
        done = sum(int(j.get("offset", 0)) for j in jobs)
        if not all(j.get("ready") for j in jobs):
            stall.check(done)
        progress(MigrationProgress(endpoint.number, min(99, done * 100 // total), done,
                                   total - done, 0, "disks"))
        if all(j.get("ready") for j in jobs):
            log.info("%s: its disks mirrored to %s:%d (%d bytes)", label, endpoint.nbd_host,
                     endpoint.nbd_port, done)
            return
        failed = [j for j in jobs if j.get("status") == "concluded"]
        if failed or len(jobs) < len(writable_disks(block)):
            raise DriverError(f"{label}: mirroring its disks failed: "
                              f"{failed[0].get('error') if failed else 'a mirror ended'}")
        _check_going(cancel, deadline, label)
        # near the end, often: a ready mirror is seen within 5 ms (it was 50: a 48 ms wait)
        await asyncio.sleep(POLL_S if total - done < MIRROR_NEAR_BYTES else 0.05)


async def _follow(qmp: QmpSession, endpoint: IncomingEndpoint, tunables: MigrationTunables,
                  label: str, progress: Progress, cancel: asyncio.Event,
                  deadline: float) -> Sent:
    """Until QEMU says the migration completed; the mirrors are completed at the
    switchover pause."""
    postcopy_started, mirrored = False, 0
    stall = Stall(f"{label}: the migration to {endpoint.uri}")
    while True:
        info = await qmp.execute("query-migrate")
        state = info.get("status", "") if isinstance(info, Mapping) else ""
        if state == "completed":
            return await _figures(qmp, mirrored)
        if state == "pre-switchover":
            mirrored = await _complete_mirrors(qmp, label)
            await qmp.execute("migrate-continue", {"state": "pre-switchover"})
        elif state not in _UNDER_WAY:
            error = info.get("error-desc", state) if isinstance(info, Mapping) else state
            raise DriverError(f"{label}: migration to {endpoint.uri} {state}: {error}")
        ram = info.get("ram", {}) if isinstance(info, Mapping) else {}
        if isinstance(ram, Mapping) and ram:
            sent, left = int(ram.get("transferred", 0)), int(ram.get("remaining", 0))
            if state == "active":
                stall.check(sent)
            progress(MigrationProgress(endpoint.number, min(99, sent * 100 // max(1, sent + left)),
                                       sent, left, int(ram.get("dirty-pages-rate", 0)),
                                       "memory"))
            if (tunables.postcopy and not postcopy_started and state == "active"
                    and int(ram.get("dirty-sync-count", 0)) >= 3):
                await qmp.execute("migrate-start-postcopy")
                postcopy_started = True
                log.info("%s: pre-copy did not converge; switched to post-copy", label)
        if state not in ("postcopy-active", "device", "pre-switchover"):
            _check_going(cancel, deadline, label)
        await asyncio.sleep(POLL_S)


class Stall:
    """A stream's progress: DriverError once it sent nothing for :data:`STALL_S`."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._sent = -1
        self._since = time.monotonic()

    def check(self, sent: int) -> None:
        now = time.monotonic()
        if sent != self._sent:
            self._sent, self._since = sent, now
        elif now - self._since > STALL_S:
            raise DriverError(f"{self._what} stalled: nothing sent for {STALL_S:.0f} s "
                              "(the target or its link down?)")


def _check_going(cancel: asyncio.Event, deadline: float, label: str) -> None:
    if cancel.is_set():
        raise DriverError(f"{label}: migration cancelled")
    if time.monotonic() > deadline:
        raise DriverError(f"{label}: migration timed out")


async def _complete_mirrors(qmp: QmpSession, label: str) -> int:
    """At the switchover pause: each ready mirror copies what is left and ends, the
    source staying on its own disks. The bytes the mirrors went through."""
    jobs = await _mirrors(qmp)
    for job in jobs:
        await qmp.execute("block-job-cancel", {"device": job["device"]})
    for _ in range(2000):
        if not await _mirrors(qmp):
            return sum(int(j.get("offset", 0)) for j in jobs)
        await asyncio.sleep(0.001)
    raise DriverError(f"{label}: its disk mirrors did not complete at the switchover")


async def _mirrors(qmp: QmpSession) -> list[Mapping[str, Any]]:
    jobs = await qmp.execute("query-block-jobs")
    return [j for j in jobs if isinstance(j, Mapping)
            and str(j.get("device", "")).startswith(MIRROR_PREFIX)] \
        if isinstance(jobs, list) else []


async def _migrate_state(qmp: QmpSession) -> str:
    info = await qmp.execute("query-migrate")
    return str(info.get("status", "none")) if isinstance(info, Mapping) else "none"


async def _figures(qmp: QmpSession, mirrored: int = 0) -> Sent:
    """QEMU's figures of a completed migration. Its migration thread marks the
    migration completed before it computes them (total time and downtime read 0 for
    that moment), then sets the VM postmigrate under the same lock: wait for that."""
    for _ in range(FIGURES_WAIT_POLLS):
        if await qmp.status() == "postmigrate":
            break
        await asyncio.sleep(0.005)
    info = await qmp.execute("query-migrate")
    if not isinstance(info, Mapping):
        raise DriverError(f"QMP query-migrate: unexpected answer {info!r}")
    try:
        await _drop_nodes(qmp)
    except DriverError as exc:
        log.debug("after the migration: %s", exc)
    return Sent(int(info.get("total-time", 0)), int(info.get("downtime", 0)), mirrored)


async def _give_up(qmp: QmpSession, label: str) -> None:
    """After a failure: the migration cancelled, the mirrors and their nodes dropped,
    the guest running on here; never once QEMU completed it (the target's guest runs)."""
    if await _migrate_state(qmp) == "completed":
        log.warning("%s: the migration completed; its VM here stays paused", label)
        return
    await _cut_streams(qmp, label)
    try:
        await qmp.execute("migrate_cancel")
    except DriverError as exc:
        log.debug("%s: migrate_cancel: %s", label, exc)
    for job in await _mirrors(qmp):
        try:
            await qmp.execute("block-job-cancel", {"device": job["device"], "force": True})
        except DriverError as exc:
            log.debug("%s: cancel %s: %s", label, job.get("device"), exc)
    for _ in range(500):
        if not await _mirrors(qmp) and await _migrate_state(qmp) not in _UNDER_WAY:
            break
        await asyncio.sleep(0.01)
    await _drop_nodes(qmp)
    if await _migrate_state(qmp) != "completed" and await qmp.status() == "paused":
        await qmp.execute("cont")
    log.warning("%s: migration given up; it runs on here", label)


async def _cut_streams(qmp: QmpSession, label: str) -> None:
    """Shut the sockets of the migration and of the disks' NBD clients (QMP ``yank``):
    what is in flight to a target that stopped answering fails at once, instead of
    holding QEMU's main loop in a drain until TCP gives up (many minutes)."""
    try:
        found = await qmp.execute("query-yank")
        ours = [i for i in found if isinstance(i, Mapping) and (
            i.get("type") == "migration" or (i.get("type") == "block-node" and str(
                i.get("node-name", "")).startswith(NODE_PREFIX)))] \
            if isinstance(found, list) else []
        if ours:
            await qmp.execute("yank", {"instances": ours})
            log.info("%s: its migration streams shut (%s)", label,
                     ", ".join(str(i.get("node-name", i["type"])) for i in ours))
    except DriverError as exc:
        log.warning("%s: could not shut its migration streams: %s", label, exc)


async def _drop_nodes(qmp: QmpSession) -> None:
    nodes = await qmp.execute("query-named-block-nodes", {"flat": True})
    for n in nodes if isinstance(nodes, list) else []:
        name = str(n.get("node-name", "")) if isinstance(n, Mapping) else ""
        if name.startswith(NODE_PREFIX):
            try:
                await qmp.execute("blockdev-del", {"node-name": name})
            except DriverError as exc:
                log.debug("blockdev-del %s: %s", name, exc)
