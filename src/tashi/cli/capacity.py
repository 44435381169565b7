"""``tashi slots`` and ``tashi layout``: what the cluster holds and what still fits."""

from __future__ import annotations

import click

from tashi.cli.render import emit_json, mib, table
from tashi.cli.session import Session, pass_session


@click.command()
@click.option("--cores", type=int, default=1, show_default=True, help="Cores per instance.")
@click.option("--memory", "memory_mib", type=int, default=128, show_default=True,
              help="Memory per instance, MiB.")
@pass_session
def slots(session: Session, cores: int, memory_mib: int) -> None:
    """How many more of your instances of a size fit, per host and in total (users:
    on the hosts that may take them)."""
    out = session.call(lambda c: c.slots(cores, memory_mib))
    if session.json:
        emit_json(out)
        return
    rows = [[h.name, str(h.slots), h.why] for h in out.hosts]
    rows.append(["total", str(out.total), ""])
    click.echo(f"instances of {cores} core(s), {mib(memory_mib)}:")
    click.echo(table(["HOST", "SLOTS", "LIMITED-BY"], rows))


@click.command()
@pass_session
def layout(session: Session) -> None:
    """Per host: its instances and used/total cores and memory (admins)."""
    hosts = session.call(lambda c: c.layout())
    if session.json:
        emit_json(hosts)
        return
    for entry in hosts:
        h = entry.host
        click.echo(f"{h.name} ({h.state}, {'up' if h.up else 'down'}): "
                   f"cores {h.used_cores}/{h.cores}, memory "
                   f"{mib(h.used_memory_mib)}/{mib(h.memory_mib)}")
        for i in entry.instances:
            click.echo(f"  {i.id:>5}  {i.name:<20} {i.owner:<12} {i.state:<12} "
                       f"{i.cores} cores {mib(i.memory_mib)}")
