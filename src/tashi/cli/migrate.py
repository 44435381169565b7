"""``tashi vm migrate``: move a running instance to another host (admins)."""

from __future__ import annotations

import click

from tashi.api.schemas import InstanceOut
from tashi.cli.progress import StatusLine
from tashi.cli.refs import instance_ref
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient
from tashi.domain.errors import TashiError

POLL_S = 0.25


@click.command()
@click.argument("ref")
@click.option("--to", "to", metavar="HOST", help="The target host (default: the one with "
              "the most free memory that can take it).")
@click.option("--abort", is_flag=True, help="Give up the migration under way (it runs on "
              "on its source).")
@click.option("--max-downtime", "max_downtime_ms", type=click.IntRange(1, 60_000),
              default=30, show_default=True, metavar="MS",
              help="The most the guest may be stopped for.")
@click.option("--bandwidth", "bandwidth_mib_s", type=click.IntRange(0, 1_000_000), default=0,
              metavar="MIB_S", help="MiB/s at most (default: no limit).")
@click.option("--auto-converge", is_flag=True, help="Throttle a guest that dirties memory "
              "faster than it is sent.")
@click.option("--postcopy", is_flag=True, help="Switch to post-copy when pre-copy does not "
              "converge (the guest runs on the target while its memory follows).")
@click.option("--wait", is_flag=True, help="Until it runs on the target (or failed).")
@click.option("--timeout", "timeout_s", type=click.IntRange(10, 86_400), default=600,
              show_default=True, metavar="SECONDS",
              help="The source gives up after it (the VM runs on there).")
@pass_session
def migrate(session: Session, ref: str, to: str | None, abort: bool, max_downtime_ms: int,
            bandwidth_mib_s: int, auto_converge: bool, postcopy: bool, wait: bool,
            timeout_s: int) -> None:
    """Move running instance REF to another host while it runs, its disks along."""
    from tashi.api.schemas.migration import MigrateIn

    ref = instance_ref(ref)

    async def run(client: TashiClient) -> InstanceOut:
        if abort:
            return await client.abort_migration(ref)
        inst = await client.migrate_instance(ref, MigrateIn(
            to=to, max_downtime_ms=max_downtime_ms, bandwidth_mib_s=bandwidth_mib_s,
            auto_converge=auto_converge, postcopy=postcopy, timeout_s=timeout_s))
        if not wait or inst.migration is None:
            return inst
        return await wait_migrated(client, inst, inst.migration.number, timeout_s + 60)

    inst = session.call(run)
    if session.json:
        emit_json(inst)
    elif inst.migration is not None:
        click.echo(f"instance {inst.id} ({inst.name}): {inst.state}, migrating from host "
                   f"{inst.migration.source} to host {inst.migration.target}")
    elif inst.last_migration is not None and not abort:
        click.echo(f"instance {inst.id} ({inst.name}): {inst.state} on host {inst.host}; "
                   f"last migration: {migration_words(inst)}")
    else:
        click.echo(f"instance {inst.id} ({inst.name}): {inst.state} on host {inst.host}: "
                   f"{inst.message}")


async def wait_migrated(client: TashiClient, inst: InstanceOut, number: int,
                        timeout_s: float) -> InstanceOut:
    """The instance once migration ``number`` is over; an error if it failed."""
    import asyncio

    line = StatusLine()
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while True:
            inst = await client.get_instance(inst.id)
            m = inst.migration
            if m is not None and m.number == number:
                line.show(f"{inst.name}: {inst.state}, {m.phase}" + (
                    f" {m.percent}%" if m.percent is not None else ""))
            elif inst.last_migration is not None and inst.last_migration.number == number:
                return inst
            else:
                raise TashiError(f"instance {inst.name}: migration {number} did not complete: "
                                 f"{inst.last_failure or inst.message}")
            if asyncio.get_running_loop().time() >= deadline:
                raise TashiError(f"instance {inst.name}: still migrating after {timeout_s:g} s")
            await asyncio.sleep(POLL_S)
    finally:
        line.end()


def migration_words(inst: InstanceOut) -> str:
    """``0.41 s total, 12 ms downtime, h1 -> h2`` (``-``: none)."""
    r = inst.last_migration
    if r is None:
        return "-"
    return (f"{r.total_ms / 1000:.2f} s total, {r.downtime_ms} ms downtime, "
            f"{r.source} -> {r.target}")
