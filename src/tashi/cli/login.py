"""``tashi login``: get or check a token with the manager and remember both."""

from __future__ import annotations

import sys

import click

from tashi.cli.config import Target, check_url, save_config, saved_login
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session
from tashi.domain.errors import InvalidInput, TashiError


@click.command()
@click.option("--url", help="The manager's URL (default: as for every command).")
@click.option("--user", "user_name", help="Log in as this user with its password (asked for, "
              "hidden): the manager makes a new API token.")
@click.option("--token", help="Your API token (default: asked for, hidden). It shows in the "
              "process list: prefer --token-file.")
@click.option("--token-file", metavar="PATH",
              help="Read your API token from this file (- for stdin).")
@pass_session
def login(session: Session, url: str | None, user_name: str | None, token: str | None,
          token_file: str | None) -> None:
    """Save the manager's URL and an API token in the config file: a new token for
    --user's password, or a token you have (checked first)."""
    given = [flag for flag, value in (("--user", user_name), ("--token", token),
                                      ("--token-file", token_file)) if value is not None]
    if len(given) > 1:
        raise click.UsageError(f"give only one of --user, --token and --token-file, "
                               f"not {' and '.join(given)}")
    url = check_url(url) if url else session.target().url
    if token_file is not None:
        token = read_token_file(token_file)
    if user_name is not None:
        password = click.prompt(f"Password for {user_name}", hide_input=True, err=True)
        token = session.call(lambda c: c.login(user_name, password),
                             target=Target(url=url, token=None)).token
    token = token or session.token or click.prompt("API token", hide_input=True, err=True)
    target = Target(url=url, token=token)
    me = session.call(lambda c: c.whoami(), target=target)
    try:
        saved = saved_login()
    except InvalidInput:  # a config file that cannot be read is replaced, not an error
        saved = None
    replaced = _replaced(session, saved, url)
    path = save_config(target, me.name)
    if session.json:
        emit_json({"url": url, "whoami": me, "config": str(path), "replaced": replaced})
        return
    tail = f", replacing the saved login {replaced}" if replaced else ""
    click.echo(f"logged in to {url} as {me.name} ({me.role or me.kind}){tail}")


def _replaced(session: Session, saved: tuple[Target, str | None] | None,
              url: str) -> str | None:
    """Whose saved login a new one replaces, in words: ``of admin on URL``; None when
    none was saved. A file that does not name the user is asked about, when it is of
    the same manager (just reached: no waiting on one that may be gone)."""
    if saved is None:
        return None
    old, user = saved
    where = f" on {old.url}" if old.url != url else ""
    if user is None and old.url == url:
        try:
            user = session.call(lambda c: c.whoami(), target=old).name
        except TashiError:
            return f"whose token no longer works{where}"
    return f"of {user}{where}" if user else f"to {old.url}"


def read_token_file(path: str) -> str:
    """The token in the file ``path`` (``-``: stdin), without surrounding whitespace."""
    name = "stdin" if path == "-" else f"token file {path}"
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as f:
                text = f.read()
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{name} is not valid UTF-8 (byte {exc.start})") from exc
    except OSError as exc:
        raise InvalidInput(f"cannot read {name}: {exc.strerror or exc}") from exc
    token = text.strip()
    if not token:
        raise InvalidInput(f"{name} holds no token")
    return token
