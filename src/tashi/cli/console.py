"""``tashi vm console``: an instance's console text, once or followed."""

from __future__ import annotations

import json

import click

from tashi.cli.refs import instance_ref
from tashi.cli.session import Session, pass_session
from tashi.cli.terminal import printable
from tashi.client import TashiClient


@click.command("console")
@click.argument("ref")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new output as it is "
              "written, until Ctrl-C or the instance is gone.")
@click.option("--raw", is_flag=True, help="Print the guest's output as it came, terminal "
              "escape sequences and all (default: they are dropped).")
@pass_session
def console(session: Session, ref: str, follow: bool, raw: bool) -> None:
    """Print the console output of instance REF."""
    ref = instance_ref(ref)
    shown = (lambda text: text) if raw or session.json else printable
    if not follow:
        _emit(session, shown(session.call(lambda c: c.console(ref))), newline=True, raw=raw)
        return

    async def run(client: TashiClient) -> None:
        async for part in client.follow_console(ref):  # streamed: what is new, as it comes
            if text := shown(part):
                _emit(session, text, newline=False, raw=raw)

    try:
        session.call(run)
    except KeyboardInterrupt:
        click.echo("", err=True)


def _emit(session: Session, text: str, *, newline: bool, raw: bool) -> None:
    """``raw``: as it came (click would otherwise drop escape sequences off a terminal)."""
    if session.json:
        click.echo(json.dumps({"console": text}))
    else:
        click.echo(text, nl=newline and not text.endswith("\n"), color=True if raw else None)
