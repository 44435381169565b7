"""``tashi plan``: offline planning with the pure placement core (no manager needed).

``tashi plan capacity`` answers Ganeti's ``hspace`` question: on this cluster, how
many instances of this size fit, and which resource runs out first?
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click

from tashi.cli.render import table
from tashi.cli.session import Session
from tashi.domain.errors import InvalidInput
from tashi.domain.resources import MAX_CORES, MAX_MEMORY_MIB, MIN_MEMORY_MIB
from tashi.scheduler.capacity import (
    DEFAULT_LIMIT,
    CapacityReport,
    HostGroup,
    InstanceSize,
    groups_of_data,
    hosts_of_groups,
    plan_capacity,
)
from tashi.scheduler.policy import POLICIES


@click.group()
def plan() -> None:
    """Plan offline: what fits on a cluster described here (no manager needed)."""


@plan.command()
@click.option("--hosts", "n_hosts", type=int, metavar="N", help="Number of alike hosts.")
@click.option("--host-cores", type=int, metavar="C", help="Cores of each host.")
@click.option("--host-memory", type=int, metavar="MIB", help="Memory of each host, MiB.")
@click.option("--host-disk", type=int, default=0, metavar="GIB",
              help="Scratch disk of each host, GiB.  [default: 0]")
@click.option("--cluster", "cluster_file", metavar="FILE",
              help="Host groups instead, from a TOML or JSON file (see below).")
@click.option("--cores", type=int, required=True, metavar="C", help="Cores per instance.")
@click.option("--memory", type=int, required=True, metavar="MIB",
              help="Memory per instance, MiB.")
@click.option("--disk", type=int, default=0, metavar="GIB",
              help="Scratch disk per instance, GiB.  [default: 0]")
@click.option("--policy", type=click.Choice(sorted(POLICIES)), default="spread",
              show_default=True)
@click.option("--limit", type=int, default=DEFAULT_LIMIT, show_default=True,
              help="Stop after placing this many.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_context
def capacity(ctx: click.Context, n_hosts: int | None, host_cores: int | None,
             host_memory: int | None, host_disk: int, cluster_file: str | None, cores: int,
             memory: int, disk: int, policy: str, limit: int, as_json: bool) -> None:
    """How many instances of one size fit, per host group, and what runs out first.

    The cluster is N alike hosts (--hosts, --host-cores, --host-memory, --host-disk)
    or host groups from --cluster FILE: TOML ``[[groups]]`` tables, or JSON
    ``{"groups": [...]}``, each with name, count, cores, memory_mib and disk_gib.
    """
    groups = _groups(n_hosts, host_cores, host_memory, host_disk, cluster_file)
    size = _size(cores, memory, disk)
    if limit < 1:
        raise InvalidInput(f"--limit must be at least 1, got {limit}")
    hosts, group_of = hosts_of_groups(groups)
    report = plan_capacity(hosts, size, group_of=group_of, policy=policy, limit=limit)
    session = ctx.find_object(Session)
    if as_json or (session is not None and session.json):
        click.echo(json.dumps(report_json(report), indent=2))
    else:
        click.echo(render(report))


def _size(cores: int, memory: int, disk: int) -> InstanceSize:
    _check("--cores", cores, 1, MAX_CORES)
    _check("--memory", memory, MIN_MEMORY_MIB, MAX_MEMORY_MIB)
    _check("--disk", disk, 0)
    return InstanceSize(cores, memory, disk)


def _check(option: str, value: int, least: int, most: int | None = None) -> None:
    if value < least or (most is not None and value > most):
        bounds = f"between {least} and {most}" if most is not None else f"at least {least}"
        raise InvalidInput(f"{option} must be {bounds}, got {value}")


def _groups(n_hosts: int | None, host_cores: int | None, host_memory: int | None,
            host_disk: int, cluster_file: str | None) -> list[HostGroup]:
    if cluster_file is not None:
        if (n_hosts, host_cores, host_memory) != (None, None, None):
            raise InvalidInput("give either --cluster or --hosts/--host-cores/--host-memory")
        return groups_of_data(_read(Path(cluster_file)))
    if n_hosts is None or host_cores is None or host_memory is None:
        raise InvalidInput("describe the cluster: --hosts, --host-cores and --host-memory "
                           "(or --cluster FILE)")
    _check("--hosts", n_hosts, 1)
    _check("--host-cores", host_cores, 1)
    _check("--host-memory", host_memory, 1)
    _check("--host-disk", host_disk, 0)
    return [HostGroup("hosts", n_hosts, host_cores, host_memory, host_disk)]


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if _kind(path) == "JSON" else tomllib.loads(text)
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise InvalidInput(f"{path}: not valid {_kind(path)}: {exc}") from exc
    if not isinstance(data, dict):
        raise InvalidInput(f"{path}: expected a table with a list \"groups\"")
    return data


def _kind(path: Path) -> str:
    return "JSON" if path.suffix.lower() == ".json" else "TOML"


def render(report: CapacityReport) -> str:
    size = report.size
    disk = f", {size.disk_gib} GiB disk" if size.disk_gib else ""
    n_hosts = len(report.hosts)
    on = dict(report.bindings).get(report.binding, 0)
    rows = [[g.name, str(g.hosts), str(g.instances), f"{g.instances / g.hosts:.1f}",
             g.binding] for g in report.groups]
    lines = [
        f"instance: {size.cores} {'core' if size.cores == 1 else 'cores'}, "
        f"{size.memory_mib} MiB{disk}; policy {report.policy}",
        f"fits: {'at least ' if report.limited else ''}{report.total} instances "
        f"on {n_hosts} hosts",
        f"binding constraint: {report.binding} "
        + (f"(on {on} of {n_hosts} hosts)" if on else "(no resource ran out)"),
        "",
        table(["GROUP", "HOSTS", "INSTANCES", "PER-HOST", "BINDING"], rows),
        "",
        f"stopped: {report.stopped}",
    ]
    return "\n".join(lines)


def report_json(report: CapacityReport) -> dict[str, Any]:
    return {
        "size": {"cores": report.size.cores, "memory_mib": report.size.memory_mib,
                 "disk_gib": report.size.disk_gib},
        "policy": report.policy,
        "total": report.total,
        "limited": report.limited,
        "binding": report.binding,
        "bindings": dict(report.bindings),
        "groups": [{"name": g.name, "hosts": g.hosts, "instances": g.instances,
                    "binding": g.binding} for g in report.groups],
        "hosts": [{"name": h.name, "group": h.group, "instances": h.instances,
                   "binding": h.binding} for h in report.hosts],
        "stopped": report.stopped,
    }

