"""``tashi whoami`` and ``tashi version``: who you are to the manager, and which versions
talk to each other."""

from __future__ import annotations

import click

from tashi import __version__
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session


@click.command()
@pass_session
def whoami(session: Session) -> None:
    """Who the manager takes you for (your token's user and role), and where it is."""
    target = session.target()
    me = session.call(lambda c: c.whoami(), target=target)
    if session.json:
        emit_json({"url": target.url, **me.model_dump(mode="json")})
        return
    click.echo(f"{me.name} ({me.role or me.kind}) on {target.url}")


@click.command()
@pass_session
def version(session: Session) -> None:
    """This command line's version and the manager's (no token needed)."""
    target = session.target()
    if not session.json:
        click.echo(f"tashi {__version__}")
    manager = session.call(lambda c: c.manager_version(), target=target)
    if session.json:
        emit_json({"tashi": __version__, "manager": manager, "url": target.url})
        return
    click.echo(f"manager {manager} on {target.url}")
