"""The agent's usage reports not yet counted by the manager: on disk, bounded, in order.

Each report gets the next sequence number of this agent's *sender* (a name made once
and kept in the spool directory, so a restarted agent goes on counting where it
stopped) and is written to the spool, fsynced, before it is sent; it goes from the
spool once the manager has answered for it (counted, or refused: counted already, or
impossible). So a report made while the manager is unreachable waits on the host, and
one sent but not answered (the agent or the manager killed meanwhile) is sent again:
the manager counts it once (its sequence number says so).

Layout: ``sender.json`` (``{"sender": …, "seq": last given}``, replaced atomically
before a report with that number is written) and one ``<seq>.json`` per report (its
fields as JSON; the client turns it into the wire form when it is sent). At most
``max_reports`` are kept: past that the oldest goes (logged). Nothing is lost by it but
timing: the counters are cumulative, so the next report counted carries what the dropped
one measured.

Without a directory the spool is in memory only (tests, a driver without state).
"""

from __future__ import annotations

import json
import logging
import os
import secrets
from collections.abc import Iterator
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from tashi.domain.usage import UsageReport, VmUsage

log = logging.getLogger(__name__)

MAX_REPORTS = 1440  # a day of reports at the default 60 s
_SENDER = "sender.json"


class UsageSpool:
    def __init__(self, host: str, directory: Path | None, *,
                 max_reports: int = MAX_REPORTS) -> None:
        self._host = host
        self._dir = directory
        self._max = max_reports
        self._memory: dict[int, UsageReport] = {}
        if directory is not None:
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.sender, self._seq = self._load_sender()

    def add(self, measured_at: datetime, figures: dict[int, VmUsage]) -> UsageReport:
        """A new report of ``figures``, kept until :meth:`done` is called for it."""
        self._seq += 1
        report = UsageReport(self._host, self.sender, self._seq, measured_at,
                             tuple(sorted(figures.items())))
        if self._dir is None:
            self._memory[report.seq] = report
        else:
            _write_atomically(self._dir / _SENDER, json.dumps(
                {"sender": self.sender, "seq": self._seq}).encode())
            _write_atomically(self._dir / f"{report.seq}.json", _encode(report))
        self._bound()
        return report

    def pending(self) -> list[UsageReport]:
        """The reports not answered yet, oldest first."""
        return list(self.waiting())

    def waiting(self) -> Iterator[UsageReport]:
        """The reports not answered yet, oldest first, each read when it is reached."""
        if self._dir is None:
            yield from [self._memory[s] for s in sorted(self._memory)]
            return
        for seq in self._seqs():
            path = self._dir / f"{seq}.json"
            try:
                report = _decode(self._host, path.read_bytes())
            except FileNotFoundError:  # answered meanwhile
                continue
            except (OSError, ValueError, KeyError, TypeError) as exc:  # torn: it goes
                log.warning("host %s: usage report %s unreadable (%s): dropped",
                            self._host, path, exc)
                path.unlink(missing_ok=True)
                continue
            yield report

    def count(self) -> int:
        """How many reports wait."""
        return len(self._memory) if self._dir is None else len(self._seqs())

    def done(self, seq: int) -> None:
        """The manager answered for report ``seq``: it goes."""
        if self._dir is None:
            self._memory.pop(seq, None)
        else:
            (self._dir / f"{seq}.json").unlink(missing_ok=True)

    def _seqs(self) -> list[int]:
        assert self._dir is not None
        return sorted(int(p.stem) for p in self._dir.glob("*.json") if p.stem.isdigit())

    def _bound(self) -> None:
        seqs = sorted(self._memory) if self._dir is None else self._seqs()
        for seq in seqs[:max(0, len(seqs) - self._max)]:
            log.warning("host %s: usage report %d dropped unsent: more than %d wait; the "
                        "next counted carries its counters", self._host, seq, self._max)
            self.done(seq)

    def _load_sender(self) -> tuple[str, int]:
        made = secrets.token_hex(12)
        if self._dir is None:
            return made, 0
        path = self._dir / _SENDER
        try:
            saved = json.loads(path.read_bytes())
            sender, seq = str(saved["sender"]), int(saved["seq"])
        except FileNotFoundError:
            return made, 0
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("host %s: usage sender %s unreadable (%s): starting a new one",
                        self._host, path, exc)
            return made, 0
        return sender, max([seq, *self._seqs()])


def _encode(report: UsageReport) -> bytes:
    figures = [[i, {**asdict(u), "started_at": u.started_at.isoformat()}]
               for i, u in report.figures]
    return json.dumps({"sender": report.sender, "seq": report.seq,
                       "measured_at": report.measured_at.isoformat(),
                       "figures": figures}).encode()


def _decode(host: str, data: bytes) -> UsageReport:
    """A report :func:`_encode` wrote (ValueError, KeyError or TypeError if it is not)."""
    doc = json.loads(data)
    figures = []
    for instance_id, u in doc["figures"]:
        usage = VmUsage(**{**u, "started_at": datetime.fromisoformat(u["started_at"])})
        if usage.problems():
            raise ValueError(f"instance {instance_id}: {'; '.join(usage.problems())}")
        figures.append((int(instance_id), usage))
    return UsageReport(host, str(doc["sender"]), int(doc["seq"]),
                       datetime.fromisoformat(doc["measured_at"]), tuple(figures))


def _write_atomically(path: Path, data: bytes) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename too survives a crash of the host
    finally:
        os.close(dir_fd)
