"""``tashi-scheduler``: places Pending instances on hosts."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import sys

import click

from tashi.client import TashiClient
from tashi.cmd.errors import translated
from tashi.common.logs import setup_logging
from tashi.scheduler.placement import POLICIES, ExternalPolicy, Policy, policy_named
from tashi.scheduler.service import Scheduler


async def run_scheduler(url: str, token: str, policy: Policy | ExternalPolicy) -> None:
    async with TashiClient(url, token, verify=os.environ.get("TASHI_CA") or True) as client:
        await Scheduler(client, policy, manager_url=url).run()


@click.command()
@click.option("--manager-url", envvar="TASHI_URL", default="http://127.0.0.1:8470",
              show_default=True, help="The manager's URL, or its replicas' separated "
              "by commas (TASHI_URL).")
@click.option("--policy", type=click.Choice([*sorted(POLICIES), "external"]),
              default="spread", show_default=True,
              help="How hosts are chosen; external: ask --policy-program.")
@click.option("--policy-program", metavar="COMMAND",
              help="With --policy external: the program to ask (split like a shell would; "
                   "JSON on stdin and stdout).")
@click.option("--policy-timeout-s", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="How long the external program may take per instance.")
@click.option("--log-level", default="INFO", show_default=True)
def main(manager_url: str, policy: str, policy_program: str | None, policy_timeout_s: float,
         log_level: str) -> None:
    """Run the Tashi scheduler. Needs an admin token in TASHI_TOKEN.

    Until the manager answers, the scheduler keeps trying (1 s, doubling to 30 s); a
    refused token stops it with one line and a non-zero exit."""
    token = os.environ.get("TASHI_TOKEN")
    if not token:
        click.echo("tashi: set TASHI_TOKEN to an admin token", err=True)
        sys.exit(2)
    if (policy == "external") != bool(policy_program):
        click.echo("tashi: --policy-program goes with --policy external, and only with it",
                   err=True)
        sys.exit(2)
    chosen: Policy | ExternalPolicy = (
        ExternalPolicy(tuple(shlex.split(policy_program)), policy_timeout_s)
        if policy_program else policy_named(policy))
    setup_logging(log_level)
    with translated(), contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run_scheduler(manager_url, token, chosen))
