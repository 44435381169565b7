"""``tashi token``: your API tokens (admins: anyone's, with ``--user``)."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import click

from tashi.api.schemas import MAX_TOKEN_LIFETIME_S, TokenOut
from tashi.cli.render import age, emit_json, table
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient
from tashi.domain.errors import InvalidInput, NotFound

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+)([smhdw]?)$")


class Duration(click.ParamType[int, object]):
    """``90s``, ``15m``, ``12h``, ``30d``, ``2w`` or plain seconds, as seconds."""

    name = "duration"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        found = _DURATION.fullmatch(str(value).strip().lower())
        seconds = int(found[1]) * _UNITS[found[2] or "s"] if found else 0
        if not 1 <= seconds <= MAX_TOKEN_LIFETIME_S:
            self.fail(f"{value!r} is not a duration like 90s, 15m, 12h, 30d or 2w "
                      "(at most 10 years)", param, ctx)
        return seconds


@click.group()
def token() -> None:
    """API tokens: create, list, revoke."""


@token.command()
@click.argument("name")
@click.option("--expires", type=Duration(), help="Lifetime, e.g. 30d (default: never, or "
              "when the token you use expires: a token never outlives the one that made it).")
@pass_session
def create(session: Session, name: str, expires: int | None) -> None:
    """Create API token NAME and print it (shown once)."""
    out = session.call(lambda c: c.create_token(name, expires))
    if session.json:
        emit_json(out)
        return
    click.echo(f"token {out.id} {out.name} created, expires: {_expiry(out)}")
    click.echo(f"API token (shown once): {out.token}")


@token.command("list")
@click.option("--user", "user_name", help="Another user's tokens (admins only).")
@pass_session
def list_(session: Session, user_name: str | None) -> None:
    """List your API tokens (never the tokens themselves)."""
    tokens = session.call(lambda c: c.list_tokens(user_name))
    if session.json:
        emit_json(tokens)
        return
    click.echo(table(["ID", "NAME", "AGE", "EXPIRES"],
                     [[str(t.id), t.name, age(t.created_at), _expiry(t)] for t in tokens]))


@token.command()
@click.argument("ref", metavar="ID|NAME")
@click.option("--user", "user_name", help="Find NAME among this user's tokens (admins only).")
@pass_session
def revoke(session: Session, ref: str, user_name: str | None) -> None:
    """Revoke an API token, by id or by name: it stops working at once."""

    async def run(c: TashiClient) -> TokenOut:
        token_id = int(ref) if ref.isascii() and ref.isdigit() else await _by_name(
            c, ref, user_name)
        return await c.revoke_token(token_id)

    out = session.call(run)
    if session.json:
        emit_json(out)
        return
    click.echo(f"token {out.id} {out.name} revoked")


async def _by_name(c: TashiClient, name: str, user_name: str | None) -> int:
    found = [t.id for t in await c.list_tokens(user_name) if t.name == name]
    if not found:
        raise NotFound(f"no token named {name}")
    if len(found) > 1:
        raise InvalidInput(f"{len(found)} tokens are named {name}; revoke one by its id")
    return found[0]


def _expiry(t: TokenOut) -> str:
    if t.expires_at is None:
        return "never"
    now = datetime.now(UTC)
    return "expired" if t.expires_at <= now else f"in {age(now, t.expires_at)}"


@token.command("settings")
@click.option("--password-login-only/--any-token", "password_only", default=None,
              help="Admins: make tokens by password logins only (tashi login), or let "
              "any token make tokens too.")
@pass_session
def settings(session: Session, password_only: bool | None) -> None:
    """Show (admins: change) how tokens may be made on this cluster."""
    if password_only is None:
        out = session.call(lambda c: c.token_settings())
    else:
        out = session.call(lambda c: c.set_token_settings(password_login_only=password_only))
    if session.json:
        emit_json(out)
        return
    click.echo("tokens are made by: " + ("password logins only (tashi login)"
                                        if out.password_login_only
                                        else "password logins and other tokens"))
