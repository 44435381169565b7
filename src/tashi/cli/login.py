"""``tashi login``: get or check a token with the manager and remember both."""

from __future__ import annotations

import click

from tashi.cli.config import Target, check_url, save_config
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session


@click.command()
@click.option("--url", help="The manager's URL (default: as for every command).")
@click.option("--user", "user_name", help="Log in as this user with its password (asked for, "
              "hidden): the manager makes a new API token.")
@click.option("--token", help="Your API token (default: asked for, hidden).")
@pass_session
def login(session: Session, url: str | None, user_name: str | None, token: str | None) -> None:
    """Save the manager's URL and an API token in the config file: a new token for
    --user's password, or a token you have (checked first)."""
    url = check_url(url) if url else session.target().url
    if user_name is not None:
        if token is not None:
            raise click.UsageError("give --user (to log in with a password) or --token, "
                                   "not both")
        password = click.prompt(f"Password for {user_name}", hide_input=True, err=True)
        token = session.call(lambda c: c.login(user_name, password),
                             target=Target(url=url, token=None)).token
    token = token or session.token or click.prompt("API token", hide_input=True)
    target = Target(url=url, token=token)
    me = session.call(lambda c: c.whoami(), target=target)
    path = save_config(target)
    if session.json:
        emit_json({"url": url, "whoami": me, "config": str(path)})
        return
    click.echo(f"logged in to {url} as {me.name} ({me.role or me.kind})")
