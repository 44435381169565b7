"""``tashi network``: the networks instances attach their NICs to."""

from __future__ import annotations

import click

from tashi.api.schemas import NetworkOut
from tashi.cli.render import age, emit_json, table
from tashi.cli.session import Session, pass_session
from tashi.domain.models import NetworkKind


@click.group()
def network() -> None:
    """Networks (listing: any user; adding: admins)."""


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
