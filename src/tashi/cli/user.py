"""``tashi user``: the people who may use the cluster (admins), and passwords."""

from __future__ import annotations

import click

from tashi.cli.render import age, emit_json, table
from tashi.cli.session import Session, pass_session
from tashi.domain.states import Role


@click.group()
def user() -> None:
    """Users (admins only), and passwords (passwd: anyone, for their own)."""


@user.command("list")
@pass_session
def list_(session: Session) -> None:
    """List the users."""
    users = session.call(lambda c: c.list_users())
    if session.json:
        emit_json(users)
        return
    click.echo(table(["NAME", "ROLE", "SOURCE", "AGE"],
                     [[u.name, u.role, u.source, age(u.created_at)] for u in users]))


@user.command()
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.USER.value,
              show_default=True, help="What the user may do.")
@click.option("--password-prompt", is_flag=True,
              help="Ask for a password for the user (hidden, twice): it can then log in.")
@click.option("--source", default="local", show_default=True,
              help="Where the user comes from: local (Tashi's own), or a user source the "
                   "manager is configured with (system, ldap), which must know NAME.")
@pass_session
def add(session: Session, name: str, role: str, password_prompt: bool, source: str) -> None:
    """Create user NAME and print their API token (shown once).

    Users of an LDAP source need not be added: they become users at their first
    ``tashi login``. Users of the system source (no passwords) are added here and
    use the token printed."""
    if password_prompt and source != "local":
        raise click.UsageError(f"--password-prompt is for local users; source {source} "
                               "keeps its users' passwords")
    password = new_password(f"Password for {name}") if password_prompt else None
    out = session.call(lambda c: c.add_user(name, role, password, source))
    if session.json:
        emit_json(out)
        return
    click.echo(f"user {out.user.name} ({out.user.role}, from {out.user.source}) created")
    click.echo(f"API token (shown once): {out.token}")


@user.command()
@click.argument("name")
@pass_session
def remove(session: Session, name: str) -> None:
    """Delete user NAME and its tokens (not the last admin, nor one who owns instances)."""
    session.call(lambda c: c.delete_user(name))
    if session.json:
        emit_json({"removed": name})
        return
    click.echo(f"user {name} removed")


@user.command()
@click.argument("name", required=False)
@pass_session
def passwd(session: Session, name: str | None) -> None:
    """Set your password, or NAME's (admins). Asks for your current one unless you are
    an admin, then for the new one twice (all hidden)."""
    me = session.call(lambda c: c.whoami())
    target = name or me.name
    current = None
    if me.role is not Role.ADMIN:
        current = click.prompt("Current password", hide_input=True, err=True)
    password = new_password("New password")
    session.call(lambda c: c.set_password(target, password, current))
    if session.json:
        emit_json({"user": target, "password": "changed"})
        return
    click.echo(f"password of user {target} changed")


def new_password(prompt: str) -> str:
    """A new password, typed twice, hidden (prompts on stderr: stdout stays the output)."""
    password: str = click.prompt(prompt, hide_input=True, err=True,
                                 confirmation_prompt="Repeat for confirmation")
    return password
