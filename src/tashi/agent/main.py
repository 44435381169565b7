"""``tashi-agent``: the node agent of one host; ``tashi-agent simulate``: many
simulated hosts (fake driver) in one process."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from tashi.agent.drivers.registry import make_driver
from tashi.agent.service import Agent, load_credential, save_credential
from tashi.agent.settings import AgentSettings
from tashi.agent.simulation import Simulation, SimulationSettings
from tashi.client import TashiClient
from tashi.common.logs import setup_logging
from tashi.domain.errors import InvalidInput, TashiError
from tashi.domain.names import check_name

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


@click.group(invoke_without_command=True)
@click.option("--manager-url", help="The manager's URL (TASHI_AGENT_MANAGER_URL).")
@click.option("--host", help="This host's name (default: from the hostname).")
@click.option("--state-dir", type=click.Path(path_type=Path), help="Runtime state directory.")
@click.option("--image-dir", type=click.Path(path_type=Path), help="Image directory.")
@click.option("--driver", type=click.Choice(["qemu", "fake"]), help="Hypervisor driver.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), help="QEMU accelerator.")
@click.pass_context
def main(ctx: click.Context, manager_url: str | None, host: str | None,
         state_dir: Path | None, image_dir: Path | None, driver: str | None,
         accel: str | None) -> None:
    """Run the Tashi agent of this host. Credentials come from TASHI_AGENT_TOKEN,
    TASHI_AGENT_JOIN_TOKEN or the credential saved in the state directory."""
    if ctx.invoked_subcommand is not None:
        return
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


@main.command()
@click.option("--hosts", "count", type=click.IntRange(1, 100_000), required=True,
              help="How many simulated hosts.")
@click.option("--prefix", default="sim-", show_default=True,
              help="Their names: PREFIX1 ... PREFIXN.")
@click.option("--cores", type=click.IntRange(1), default=64, show_default=True)
@click.option("--memory", "memory_mib", type=click.IntRange(1), default=256 * 1024,
              show_default=True, help="MiB per host.")
@click.option("--heartbeat-interval", "heartbeat_interval_s", type=click.FloatRange(0.1),
              default=10.0, show_default=True, help="Seconds between a host's heartbeats.")
@click.option("--manager-url", envvar="TASHI_AGENT_MANAGER_URL", required=True,
              help="The manager's URL (TASHI_AGENT_MANAGER_URL).")
@click.option("--join-token", envvar="TASHI_AGENT_JOIN_TOKEN", required=True,
              help="The cluster's join token (TASHI_AGENT_JOIN_TOKEN).")
@click.option("--log-level", default="INFO", show_default=True)
def simulate(count: int, prefix: str, cores: int, memory_mib: int,
             heartbeat_interval_s: float, manager_url: str, join_token: str,
             log_level: str) -> None:
    """Run HOSTS simulated hosts (fake driver, nothing runs) in this process, each
    joining with the join token; they show as hypervisor "fake (simulation)"."""
    try:
        check_name("host", f"{prefix}{count}")
    except InvalidInput as exc:
        raise click.BadParameter(exc.message, param_hint="--prefix") from exc
    ca = os.environ.get("TASHI_AGENT_CA") or os.environ.get("TASHI_CA")
    settings = SimulationSettings(
        manager_url=manager_url, join_token=join_token, hosts=count, prefix=prefix,
        cores=cores, memory_mib=memory_mib, heartbeat_interval_s=heartbeat_interval_s,
        verify=ca or True)
    setup_logging(log_level)
    try:
        asyncio.run(Simulation(settings).run())
    except TashiError as exc:
        click.echo(f"tashi-agent simulate: {exc.message}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        log.info("simulation of %d hosts stopped", count)
