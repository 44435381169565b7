"""``tashi-agent``: the node agent of one host."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click

from tashi.agent.drivers.registry import make_driver
from tashi.agent.service import Agent, load_credential, save_credential
from tashi.agent.settings import AgentSettings
from tashi.client import TashiClient
from tashi.common.logs import setup_logging
from tashi.domain.errors import TashiError

log = logging.getLogger(__name__)


async def obtain_credential(settings: AgentSettings) -> str:
    """This host's credential: given, saved from an earlier join, or joined for now."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    path = settings.state_dir / "credential"
    saved = load_credential(path)
    if saved:
        return saved
    if settings.join_token is None:
        raise click.ClickException(
            f"host {settings.host}: no credential: give --token (from `tashi host add`) or "
            "--join-token (when the manager allows auto registration)")
    async with TashiClient(settings.manager_url, verify=_verify(settings)) as anonymous:
        token = await anonymous.join(settings.host, settings.join_token.get_secret_value())
    save_credential(path, token)
    log.info("host %s: joined the cluster; credential saved in %s", settings.host, path)
    return token


def _verify(settings: AgentSettings) -> bool | str:
    return str(settings.ca) if settings.ca else True


async def run_agent(settings: AgentSettings) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    token = await obtain_credential(settings)
    driver = make_driver(settings)
    async with TashiClient(settings.manager_url, token, verify=_verify(settings)) as client:
        agent = Agent(client, settings.host, driver, settings.image_dir,
                      heartbeat_interval_s=settings.heartbeat_interval_s,
                      poll_wait_s=settings.poll_wait_s, resync_s=settings.resync_s,
                      report_every_s=settings.report_every_s)
        await agent.run()


@click.command()
@click.option("--manager-url", help="The manager's URL (TASHI_AGENT_MANAGER_URL).")
@click.option("--host", help="This host's name (default: from the hostname).")
@click.option("--state-dir", type=click.Path(path_type=Path), help="Runtime state directory.")
@click.option("--image-dir", type=click.Path(path_type=Path), help="Image directory.")
@click.option("--driver", type=click.Choice(["qemu", "fake"]), help="Hypervisor driver.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), help="QEMU accelerator.")
def main(manager_url: str | None, host: str | None, state_dir: Path | None,
         image_dir: Path | None, driver: str | None, accel: str | None) -> None:
    """Run the Tashi agent of this host. Credentials come from TASHI_AGENT_TOKEN,
    TASHI_AGENT_JOIN_TOKEN or the credential saved in the state directory."""
    given = {"manager_url": manager_url, "host": host, "state_dir": state_dir,
             "image_dir": image_dir, "driver": driver, "accel": accel}
    settings = AgentSettings.model_validate({k: v for k, v in given.items() if v is not None})
    setup_logging(settings.log_level)
    try:
        asyncio.run(run_agent(settings))
    except TashiError as exc:
        click.echo(f"tashi-agent: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        log.info("host %s: agent stopped; VMs keep running", settings.host)
