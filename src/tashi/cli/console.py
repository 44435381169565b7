"""``tashi vm console``: an instance's console text, once or followed."""

from __future__ import annotations

import asyncio
import json

import click

from tashi.cli.refs import instance_ref
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient

FOLLOW_POLL_S = 1.0
_PROBE = 64


def new_part(old: str, new: str) -> str:
    """What ``new`` adds to ``old``. The manager keeps only the console's tail, so the
    start of ``old`` may have scrolled away: the new part follows the longest suffix of
    ``old`` that starts ``new``. With no overlap, the console was reset: all of ``new``."""
    if new.startswith(old):
        return new[len(old):]
    probe = new[:_PROBE]
    at = old.find(probe)
    while at >= 0:  # overlaps at least as long as the probe, longest first
        if new.startswith(old[at:]):
            return new[len(old) - at:]
        at = old.find(probe, at + 1)
    for overlap in range(min(len(old), len(probe) - 1), 0, -1):
        if old.endswith(new[:overlap]):
            return new[overlap:]
    return new


@click.command("console")
@click.argument("ref")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output until Ctrl-C.")
@pass_session
def console(session: Session, ref: str, follow: bool) -> None:
    """Print the console output of instance REF."""
    ref = instance_ref(ref)
    if not follow:
        _emit(session, session.call(lambda c: c.console(ref)), newline=True)
        return

    async def run(client: TashiClient) -> None:
        seen = ""
        while True:
            text = await client.console(ref)
            part = new_part(seen, text)
            if part:
                _emit(session, part, newline=False)
            seen = text
            await asyncio.sleep(FOLLOW_POLL_S)

    try:
        session.call(run)
    except KeyboardInterrupt:
        click.echo("", err=True)


def _emit(session: Session, text: str, *, newline: bool) -> None:
    if session.json:
        click.echo(json.dumps({"console": text}))
    else:
        click.echo(text, nl=newline and not text.endswith("\n"))
