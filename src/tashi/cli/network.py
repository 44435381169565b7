"""``tashi network``: the networks instances attach their NICs to."""

from __future__ import annotations

import click

from tashi.api.schemas import NetworkOut
from tashi.cli.render import age, emit_json, fields, table
from tashi.cli.session import Session, pass_session
from tashi.domain.models import NetworkKind
from tashi.domain.names import check_name


@click.group()
def network() -> None:
    """Networks (listing and showing: any user; adding: admins)."""


@network.command("list")
@pass_session
def list_(session: Session) -> None:
    """List the networks an instance may attach to (tashi vm create --network NAME)."""
    networks = session.call(lambda c: c.list_networks())
    if session.json:
        emit_json(networks)
        return
    click.echo(_table(networks))


@network.command()
@click.argument("name")
@pass_session
def show(session: Session, name: str) -> None:
    """Show network NAME and the instances attached to it (yours; admins: all)."""
    name = check_name("network", name)  # never a path: checked before it goes in a URL
    out = session.call(lambda c: c.get_network(name))
    if session.json:
        emit_json(out)
        return
    click.echo(fields([("name", out.name), ("kind", out.kind),
                       ("created", f"{age(out.created_at)} ago"),
                       ("instances", str(len(out.instances)))]))
    if out.instances:
        click.echo(table(["ID", "NAME", "OWNER", "STATE"],
                         [[str(i.id), i.name, i.owner, i.state] for i in out.instances]))


@network.command()
@click.argument("name")
@pass_session
def remove(session: Session, name: str) -> None:
    """Remove network NAME (admins): refused while an instance has a NIC on it."""
    name = check_name("network", name)
    session.call(lambda c: c.remove_network(name))
    if session.json:
        emit_json({"removed": name})
        return
    click.echo(f"network {name}: removed")


@network.command()
@click.argument("name")
@click.option("--kind", type=click.Choice([k.value for k in NetworkKind]),
              default=NetworkKind.USER.value, show_default=True,
              help="user: QEMU user-mode networking (NAT, the guest gets 10.0.2.15).")
@pass_session
def add(session: Session, name: str, kind: str) -> None:
    """Add network NAME (admins)."""
    out = session.call(lambda c: c.add_network(name, kind))
    if session.json:
        emit_json(out)
        return
    click.echo(_table([out]))


def _table(networks: list[NetworkOut]) -> str:
    return table(["NAME", "KIND", "AGE"], [[n.name, n.kind, age(n.created_at)] for n in networks])
