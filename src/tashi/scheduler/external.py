"""An operator's own placement program (Ganeti's IAllocator idea).

The program gets ``{"hosts": [...], "request": {...}}`` as JSON on stdin and answers
on stdout with ``{"host": "NAME"}``, or ``{"host": null, "reason": "..."}`` to refuse.
Whatever it answers, the placer checks the host against the hard filters
(:data:`HARD_FILTERS`) before using it. A program that cannot be run, runs too
long, exits non-zero or answers something else gives a refusal whose reason says
so; :meth:`ExternalPolicy.choose` never raises for what the program does.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tashi.scheduler.filters import DEFAULT_FILTERS, Filter, TargetHostFilter
from tashi.scheduler.model import HostSnapshot, PlacementRequest

#: What a chosen host must pass (the program itself decides about target hosts).
HARD_FILTERS: tuple[Filter, ...] = tuple(f for f in DEFAULT_FILTERS
                                         if not isinstance(f, TargetHostFilter))
_STDERR_TAIL = 200


@dataclass(frozen=True, slots=True)
class Answer:
    host: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class ExternalPolicy:
    """``argv``: the program and its arguments (never through a shell)."""

    argv: tuple[str, ...]
    timeout_s: float = 10.0
    name: str = "external"
    filters: tuple[Filter, ...] = HARD_FILTERS

    def __post_init__(self) -> None:
        if not self.argv:
            raise ValueError("external policy: no program given")

    def __str__(self) -> str:
        return f"{self.name} policy ({shlex.join(self.argv)})"

    def choose(self, hosts: Sequence[HostSnapshot], request: PlacementRequest) -> Answer:
        """Ask the program; a refusal (host None) with a reason on any failure."""
        payload = json.dumps({"hosts": [host_json(h) for h in hosts],
                              "request": request_json(request)})
        try:
            done = subprocess.run(list(self.argv), input=payload, capture_output=True,
                                  text=True, timeout=self.timeout_s, check=False)
        except subprocess.TimeoutExpired:
            return Answer(None, f"{self}: no answer within {self.timeout_s:g} s")
        except OSError as exc:
            return Answer(None, f"{self}: cannot run: {exc.strerror or exc}")
        if done.returncode != 0:
            tail = " ".join(done.stderr.split())[-_STDERR_TAIL:]
            return Answer(None, f"{self}: exited with status {done.returncode}"
                          + (f": {tail}" if tail else ""))
        return self._read(done.stdout)

    def _read(self, stdout: str) -> Answer:
        try:
            answer = json.loads(stdout)
        except ValueError:
            return Answer(None, f"{self}: answer is not JSON: {_short(stdout)}")
        if not isinstance(answer, dict) or "host" not in answer:
            return Answer(None, f'{self}: answer lacks "host": {_short(stdout)}')
        host = answer["host"]
        if host is None:
            reason = answer.get("reason")
            said = reason if isinstance(reason, str) and reason else "no reason given"
            return Answer(None, f"{self}: no host: {' '.join(said.split())[:200]}")
        if not isinstance(host, str):
            return Answer(None, f'{self}: "host" is not a name: {_short(stdout)}')
        return Answer(host, f"{self} chose it")


def _short(text: str, width: int = 120) -> str:
    text = " ".join(text.split())
    return repr(text) if len(text) <= width else repr(text[:width]) + "…"


def host_json(host: HostSnapshot) -> dict[str, Any]:
    return {
        "name": host.name, "up": host.up, "state": str(host.state),
        "cores": host.capacity.cores, "memory_mib": host.capacity.memory_mib,
        "disk_gib": host.capacity.disk_gib, "used_cores": host.used.cores,
        "used_memory_mib": host.used.memory_mib, "used_disk_gib": host.used.disk_gib,
        "instances": host.instances, "reserved_for": sorted(host.reserved_for),
        "networks": sorted(host.networks), "groups": sorted(host.groups),
    }


def request_json(request: PlacementRequest) -> dict[str, Any]:
    return {
        "id": request.instance_id, "name": request.name, "owner": request.owner,
        "cores": request.resources.cores, "memory_mib": request.resources.memory_mib,
        "disk_gib": request.resources.disk_gib, "target_host": request.target_host,
        "allow_elsewhere": request.allow_elsewhere, "group": request.group,
        "anti_affinity": request.anti_affinity,
        "persistent_images": sorted(request.persistent_images),
        "networks": sorted(request.networks),
    }
