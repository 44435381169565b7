"""``tashi events``: the cluster's structured audit trail (users: their own instances')."""

from __future__ import annotations

import asyncio
from datetime import datetime

import click

from tashi.api.schemas import EventOut
from tashi.cli.render import emit_json, table
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient
from tashi.domain.events import EventKind

FOLLOW_POLL_S = 1.0


@click.command()
@click.option("--instance", metavar="NAME", help="Only this instance's (a name or an id).")
@click.option("--host", metavar="NAME", help="Only events about this host.")
@click.option("--user", metavar="NAME", help="Only events concerning this user (admins).")
@click.option("--kind", type=click.Choice([k.value for k in EventKind]), help="Only this kind.")
@click.option("--since", type=click.DateTime(), metavar="TIME",
              help="At or after TIME (UTC, e.g. 2026-12-02T10:00:00).")
@click.option("--limit", type=click.IntRange(1, 1000), default=100, show_default=True,
              help="The newest this many.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new events (Ctrl-C ends).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (one array; with --follow, "
              "one object a line).")
@pass_session
def events(session: Session, instance: str | None, host: str | None, user: str | None,
           kind: str | None, since: datetime | None, limit: int, follow: bool,
           as_json: bool) -> None:
    """List events, oldest first: what happened, to which instance or host, by whom."""
    filters: dict[str, str | int | None] = {
        "instance": instance, "host": host, "user": user, "kind": kind, "limit": limit,
        "since": None if since is None else since.isoformat() + "Z"}
    json_out = as_json or session.json
    if not follow:
        found = session.call(lambda c: c.list_events(**filters))
        if json_out:
            emit_json(found)
        else:
            click.echo(_table(found))
        return
    session.call(lambda c: _follow(c, filters, json_out))


async def _follow(client: TashiClient, filters: dict[str, str | int | None],
                  json_out: bool) -> None:
    """Print what is there, then every newer event as it comes, until interrupted."""
    after: int | None = None
    while True:
        found = await client.list_events(**filters, after=after)
        for e in found:
            click.echo(e.model_dump_json() if json_out else _line(e))
        if found:
            after = found[-1].id
        await asyncio.sleep(FOLLOW_POLL_S)


def _line(e: EventOut) -> str:
    return "  ".join([f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, _about(e), e.actor or "-",
                      e.message])


def _about(e: EventOut) -> str:
    if e.instance_id is not None:
        return f"instance {e.instance_id}" + (f" on {e.host}" if e.host else "")
    return f"host {e.host}" if e.host else "-"


def _table(found: list[EventOut]) -> str:
    return table(["TIME", "KIND", "ABOUT", "USER", "BY", "MESSAGE"],
                 [[f"{e.at:%Y-%m-%d %H:%M:%S}", e.kind, _about(e), e.user or "-",
                   e.actor or "-", e.message] for e in found])
