"""Placement at scale: the pure core, no manager, no I/O.

    python benchmarks/placement.py [--hosts 10000] [--instances 100000] [--seed 1]
                                   [--reference 100]

Places ``--instances`` requests of mixed sizes (1-4 cores; 512, 1024, 2048, 4096 or
8192 MiB) one after another on ``--hosts`` hosts (32-64 cores, 128-256 GiB), with the
spread policy and then the pack policy, each on a fresh placer. Per policy it prints
the time, placements per second, how many were placed, and the worst overcommit:
usage recomputed from the decisions alone (independently of the placer), against
each host's capacity — it must be 0.

Then the exhaustive reference (every filter asks every host: what a naive loop
does) places the first ``--reference`` requests, to show its cost per placement and
that it chooses the same hosts; then 100 requests too big for any host, each of
another size, are refused and explained. Last, capacity planning: ``plan_capacity``
on 100 hosts with room for 10 instances each.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass

from stats import machine_line, print_table
from tashi.domain.resources import Resources
from tashi.domain.states import HostState
from tashi.scheduler.capacity import InstanceSize, plan_capacity
from tashi.scheduler.placement import Decision, HostSnapshot, PlacementRequest, Placer

SIZES_MIB = (512, 1024, 2048, 4096, 8192)


@dataclass(frozen=True, slots=True)
class Run:
    policy: str
    seconds: float
    placed: int
    refused: int
    overcommit_cores: int
    overcommit_mib: int


def make_hosts(n: int, rng: random.Random) -> list[HostSnapshot]:
    return [HostSnapshot(f"host{i:05d}", True, HostState.NORMAL,
                         Resources(rng.randint(32, 64), rng.randint(128, 256) * 1024))
            for i in range(n)]


def make_requests(n: int, rng: random.Random) -> list[PlacementRequest]:
    return [PlacementRequest(i, f"vm{i}", Resources(rng.randint(1, 4), rng.choice(SIZES_MIB)),
                             owner="bench")
            for i in range(n)]


def overcommit(hosts: Sequence[HostSnapshot],
               decisions: Sequence[Decision]) -> tuple[int, int]:
    """The worst (cores, MiB) by which a host's usage exceeds its capacity, from the
    decisions alone."""
    used = {h.name: [h.used.cores, h.used.memory_mib] for h in hosts}
    for d in decisions:
        if d.host is not None:
            used[d.host][0] += d.request.resources.cores
            used[d.host][1] += d.request.resources.memory_mib
    cap = {h.name: h.capacity for h in hosts}
    cores = max(used[n][0] - cap[n].cores for n in used)
    mib = max(used[n][1] - cap[n].memory_mib for n in used)
    return max(cores, 0), max(mib, 0)


def run(policy: str, hosts: list[HostSnapshot], requests: list[PlacementRequest]) -> Run:
    start = time.perf_counter()
    placer = Placer(hosts, policy)
    decisions = [placer.place(r) for r in requests]
    elapsed = time.perf_counter() - start
    placed = sum(1 for d in decisions if d.host is not None)
    cores, mib = overcommit(hosts, decisions)
    return Run(policy, elapsed, placed, len(requests) - placed, cores, mib)


def reference(hosts: list[HostSnapshot], requests: list[PlacementRequest]) -> None:
    for policy in ("spread", "pack"):
        fast, slow = Placer(hosts, policy), Placer(hosts, policy, exhaustive=True)
        start = time.perf_counter()
        chosen = [slow.place(r).host for r in requests]
        elapsed = time.perf_counter() - start
        same = chosen == [fast.place(r).host for r in requests]
        print(f"exhaustive reference, {policy}: {len(requests)} placements on {len(hosts)} "
              f"hosts, {elapsed / len(requests) * 1000:.1f} ms per placement "
              f"(~{elapsed / len(requests) * 100_000:.0f} s per 100,000); "
              f"same hosts as the index: {'yes' if same else 'NO'}", flush=True)


def refusals(hosts: list[HostSnapshot], n: int) -> None:
    """Requests too big for any host, each of another size: every one is explained
    afresh (a refusal is remembered only for requests of the same shape)."""
    placer = Placer(hosts)
    too_big = max(h.capacity.memory_mib for h in hosts) + 1
    start = time.perf_counter()
    decisions = [placer.place(PlacementRequest(i, f"big{i}", Resources(1, too_big + i)))
                 for i in range(n)]
    elapsed = time.perf_counter() - start
    assert all(d.host is None for d in decisions)
    print(f"refusals: {n} requests of distinct sizes that fit nowhere, "
          f"{elapsed / n * 1000:.1f} ms each (explained over {len(hosts)} hosts); e.g. "
          f"{decisions[0].reason!r}", flush=True)


def capacity_plan() -> None:
    hosts = [HostSnapshot(f"plan{i:03d}", True, HostState.NORMAL, Resources(20, 40960))
             for i in range(100)]
    start = time.perf_counter()
    report = plan_capacity(hosts, InstanceSize(2, 4096))
    elapsed = time.perf_counter() - start
    print(f"plan capacity: 100 hosts x 10 slots (20 cores, 40 GiB; instance 2 cores, "
          f"4 GiB): {report.total} placed, binding {report.binding}, "
          f"{elapsed * 1000:.1f} ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--reference", type=int, default=100,
                        help="requests placed by the exhaustive reference (0: skip)")
    args = parser.parse_args()
    load = os.getloadavg()
    rng = random.Random(args.seed)
    hosts = make_hosts(args.hosts, rng)
    requests = make_requests(args.instances, rng)
    print(f"Placement: {args.instances} instances (1-4 cores, 512-8192 MiB) on {args.hosts} "
          f"hosts (32-64 cores, 128-256 GiB), seed {args.seed}")
    print(machine_line(load), flush=True)
    print()
    rows = []
    for policy in ("spread", "pack"):
        r = run(policy, hosts, requests)
        rows.append([r.policy, f"{r.seconds:.2f}", f"{(r.placed + r.refused) / r.seconds:,.0f}",
                     str(r.placed), str(r.refused), f"{r.overcommit_cores} cores, "
                     f"{r.overcommit_mib} MiB"])
    print_table(["policy", "seconds", "placements/s", "placed", "refused", "max overcommit"],
                rows)
    print()
    if args.reference > 0:
        reference(hosts, requests[: args.reference])
    refusals(hosts, 100)
    capacity_plan()


if __name__ == "__main__":
    main()
