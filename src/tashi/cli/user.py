"""``tashi user``: the people who may use the cluster (admins only)."""

from __future__ import annotations

import click

from tashi.cli.render import age, emit_json, table
from tashi.cli.session import Session, pass_session
from tashi.domain.states import Role


@click.group()
def user() -> None:
    """Users (admins only)."""


@user.command("list")
@pass_session
def list_(session: Session) -> None:
    """List the users."""
    users = session.call(lambda c: c.list_users())
    if session.json:
        emit_json(users)
        return
    click.echo(table(["NAME", "ROLE", "AGE"],
                     [[u.name, u.role, age(u.created_at)] for u in users]))


@user.command()
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.USER.value,
              show_default=True, help="What the user may do.")
@pass_session
def add(session: Session, name: str, role: str) -> None:
    """Create user NAME and print their API token (shown once)."""
    out = session.call(lambda c: c.add_user(name, role))
    if session.json:
        emit_json(out)
        return
    click.echo(f"user {out.user.name} ({out.user.role}) created")
    click.echo(f"API token (shown once): {out.token}")
