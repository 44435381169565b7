"""``tashi login``: check a token against the manager and remember both."""

from __future__ import annotations

import click

from tashi.cli.config import Target, check_url, save_config
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session


@click.command()
@click.option("--url", help="The manager's URL (default: as for every command).")
@click.option("--token", help="Your API token (default: asked for, hidden).")
@pass_session
def login(session: Session, url: str | None, token: str | None) -> None:
    """Check a token with the manager and save the URL and token in the config file."""
    url = check_url(url) if url else session.target().url
    token = token or session.token or click.prompt("API token", hide_input=True)
    target = Target(url=url, token=token)
    me = session.call(lambda c: c.whoami(), target=target)
    path = save_config(target)
    if session.json:
        emit_json({"url": url, "whoami": me, "config": str(path)})
        return
    click.echo(f"logged in to {url} as {me.name} ({me.role or me.kind})")
