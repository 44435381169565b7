"""``tashi-scheduler``: places Pending instances on hosts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys

import click

from tashi.client import TashiClient
from tashi.common.logs import setup_logging
from tashi.scheduler.placement import Policy
from tashi.scheduler.service import Scheduler


async def run_scheduler(url: str, token: str, policy: Policy) -> None:
    async with TashiClient(url, token) as client:
        await Scheduler(client, policy).run()


@click.command()
@click.option("--manager-url", envvar="TASHI_URL", default="http://127.0.0.1:8470",
              show_default=True, help="The manager's URL (TASHI_URL).")
@click.option("--policy", type=click.Choice([p.value for p in Policy]), default="spread",
              show_default=True)
@click.option("--log-level", default="INFO", show_default=True)
def main(manager_url: str, policy: str, log_level: str) -> None:
    """Run the Tashi scheduler. Needs an admin token in TASHI_TOKEN."""
    token = os.environ.get("TASHI_TOKEN")
    if not token:
        click.echo("tashi-scheduler: set TASHI_TOKEN to an admin token", err=True)
        sys.exit(2)
    setup_logging(log_level)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_scheduler(manager_url, token, Policy(policy)))
