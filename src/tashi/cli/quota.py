"""``tashi quota``: per-user limits on instances, cores, memory, disk and machines.

``set`` changes only the limits it names (``--unset FIELD`` removes one: no limit);
the others are kept. Creates and resumes past a limit are refused, naming it:
``quota: alice may use 8 cores, uses 6, asks 4``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import click

from tashi.cli.render import emit_json, table
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient
from tashi.domain.errors import InvalidInput

if TYPE_CHECKING:  # at run time the client builds it: the schema loads when used
    from tashi.api.schemas import QuotaOut

#: Each limit: its option's name and the API's field, with the unit shown.
FIELDS: dict[str, tuple[str, str]] = {
    "instances": ("instances", "instances"), "cores": ("cores", "cores"),
    "memory": ("memory_mib", "memory (MiB)"), "disk": ("disk_gib", "disk (GiB)"),
    "machines": ("machines", "machines"),
}
_WHOLE = re.compile(r"^-?\d+$")


@click.group()
def quota() -> None:
    """Quotas: per-user limits (set by admins; each user sees their own)."""


@quota.command("set")
@click.argument("user")
@click.option("--instances", metavar="N", help="Most instances that count at once.")
@click.option("--cores", metavar="N", help="Most cores of those instances.")
@click.option("--memory", metavar="MIB", help="Most memory of those instances, in MiB.")
@click.option("--disk", metavar="GIB", help="Most blank and scratch disk, in GiB.")
@click.option("--machines", metavar="N", help="Most physical machines.")
@click.option("--unset", "unset", multiple=True, type=click.Choice(sorted(FIELDS)),
              help="Remove that limit (no limit); may be given more than once.")
@pass_session
def set_(session: Session, /, user: str, unset: tuple[str, ...],
         **given: str | None) -> None:
    """Admins: set USER's limits. A limit left out keeps its value; --unset FIELD
    removes one. Exited, Suspended and Destroying instances do not count."""
    limits: dict[str, int | None] = {}
    for option, text in given.items():
        if text is not None:
            limits[FIELDS[option][0]] = _whole(option, text)
    for option in unset:
        if FIELDS[option][0] in limits:
            raise InvalidInput(f"quota of {user}: --{option} is both set and unset")
        limits[FIELDS[option][0]] = None
    if not limits:
        raise InvalidInput(f"quota of {user}: nothing to set; give a limit "
                           f"(--{', --'.join(FIELDS)}) or --unset FIELD")
    _show(session, session.call(lambda c: c.set_quota(user, limits)))


@quota.command()
@click.argument("user", required=False)
@pass_session
def show(session: Session, user: str | None) -> None:
    """Show your quota and what you use (admins: any USER's)."""

    async def run(c: TashiClient) -> QuotaOut:
        return await c.get_quota(user if user is not None else (await c.whoami()).name)

    _show(session, session.call(run))


@quota.command("list")
@pass_session
def list_(session: Session) -> None:
    """Admins: every user with a limit, as USED/LIMIT (- : no limit)."""
    quotas = session.call(lambda c: c.list_quotas())
    if session.json:
        emit_json(quotas)
        return
    click.echo(table(["USER", *(shown.upper().replace(" ", "") for _, shown in
                                FIELDS.values())],
                     [[q.user, *(_cell(q, field) for field, _ in FIELDS.values())]
                      for q in quotas]))


@quota.command()
@click.argument("user")
@pass_session
def remove(session: Session, user: str) -> None:
    """Admins: remove every limit of USER."""
    _show(session, session.call(lambda c: c.delete_quota(user)))


def _whole(option: str, text: str) -> int:
    """``text`` as a whole number; the manager refuses those below 0 (one rule)."""
    if not _WHOLE.fullmatch(text.strip()):
        raise InvalidInput(f"--{option}: {text!r} is not a whole number")
    return int(text)


def _show(session: Session, q: QuotaOut) -> None:
    if session.json:
        emit_json(q)
        return
    click.echo(f"quota of {q.user}")
    click.echo(table(["RESOURCE", "USES", "LIMIT"],
                     [[shown, str(getattr(q.use, field)), _limit(q, field)]
                      for field, shown in FIELDS.values()]))


def _limit(q: QuotaOut, field: str) -> str:
    value = getattr(q.limits, field)
    return "no limit" if value is None else str(value)


def _cell(q: QuotaOut, field: str) -> str:
    value = getattr(q.limits, field)
    return f"{getattr(q.use, field)}/{'-' if value is None else value}"
