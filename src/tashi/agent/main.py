"""``tashi-agent``: the node agent of one host; ``tashi-agent simulate``: many
simulated hosts (fake driver) in one process."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import click
from pydantic import ValidationError

from tashi.agent.drivers.registry import make_driver
from tashi.agent.service import (
    Agent,
    load_credential,
    refusal,
    save_credential,
    until_accepted,
)
from tashi.agent.settings import AgentSettings
from tashi.agent.simulation import Simulation, SimulationSettings
from tashi.cli.errors import cli_error, translated
from tashi.client import TashiClient
from tashi.common.logs import setup_logging
from tashi.domain.errors import InvalidInput, TashiError, Unauthenticated
from tashi.domain.names import check_name

log = logging.getLogger(__name__)


async def obtain_credential(settings: AgentSettings) -> str:
    """This host's credential: given, saved from an earlier join, or joined for now.

    The join is retried while the manager cannot be reached; a refused join token
    raises (Forbidden), said for a person."""
    if settings.token is not None:
        return settings.token.get_secret_value()
    path = _credential_path(settings)
    saved = load_credential(path)
    if saved:
        return saved
    if settings.join_token is None:
        raise InvalidInput(
            f"host {settings.host}: no credential: set TASHI_AGENT_TOKEN (from `tashi host "
            "add`) or TASHI_AGENT_JOIN_TOKEN (when the manager allows auto registration)")
    join_token = settings.join_token.get_secret_value()
    manager = f"the manager at {settings.manager_url}"
    async with TashiClient(settings.manager_url, verify=_verify(settings)) as anonymous:
        try:
            token = await until_accepted(lambda: anonymous.join(settings.host, join_token),
                                         host=settings.host, what="join request", manager=manager)
        except TashiError as exc:
            raise refusal(exc, settings.host, "join", manager) from exc
    save_credential(path, token)
    log.info("host %s: joined the cluster; credential saved in %s", settings.host, path)
    return token


def _verify(settings: AgentSettings) -> bool | str:
    return str(settings.ca) if settings.ca else True


def _credential_path(settings: AgentSettings) -> Path:
    return settings.state_dir / "credential"


def _credential_origin(settings: AgentSettings) -> str:
    if settings.token is not None:
        return "given in TASHI_AGENT_TOKEN"
    return (f"saved in {_credential_path(settings)}; an admin issues host "
            f"{settings.host} a new one")


async def run_agent(settings: AgentSettings) -> None:
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    token = await obtain_credential(settings)
    driver = make_driver(settings)
    async with TashiClient(settings.manager_url, token, verify=_verify(settings)) as client:
        agent = Agent(client, settings.host, driver, settings.image_dir,
                      heartbeat_interval_s=settings.heartbeat_interval_s,
                      poll_wait_s=settings.poll_wait_s, resync_s=settings.resync_s,
                      report_every_s=settings.report_every_s,
                      manager_url=settings.manager_url)
        try:
            await agent.run()
        except Unauthenticated as exc:
            raise Unauthenticated(f"{exc.message}; the credential was "
                                  f"{_credential_origin(settings)}") from exc


def _settings(given: dict[str, object]) -> AgentSettings:
    """The settings from the flags given and the environment; one line if invalid."""
    try:
        return AgentSettings.model_validate({k: v for k, v in given.items() if v is not None})
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(part) for part in first["loc"])
        raise cli_error(f"invalid setting {name} (flag or TASHI_AGENT_{name.upper()}): "
                        f"{first['msg']}", 2) from exc


@click.group(invoke_without_command=True)
@click.option("--manager-url", help="The manager's URL (TASHI_AGENT_MANAGER_URL).")
@click.option("--host", help="This host's name (default: from the hostname).")
@click.option("--state-dir", type=click.Path(path_type=Path), help="Runtime state directory.")
@click.option("--image-dir", type=click.Path(path_type=Path), help="Image directory.")
@click.option("--driver", type=click.Choice(["qemu", "fake"]), help="Hypervisor driver.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), help="QEMU accelerator.")
@click.option("--heartbeat-interval", "heartbeat_interval_s",
              type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Seconds between heartbeats (TASHI_AGENT_HEARTBEAT_INTERVAL_S; "
                   "default 10).")
@click.pass_context
def main(ctx: click.Context, manager_url: str | None, host: str | None,
         state_dir: Path | None, image_dir: Path | None, driver: str | None,
         accel: str | None, heartbeat_interval_s: float | None) -> None:
    """Run the Tashi agent of this host. Credentials come from TASHI_AGENT_TOKEN,
    TASHI_AGENT_JOIN_TOKEN or the credential saved in the state directory.

    Until the manager answers, the agent keeps trying (1 s, doubling to 30 s); a
    refused credential or join token stops it with one line and a non-zero exit."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings({"manager_url": manager_url, "host": host, "state_dir": state_dir,
                          "image_dir": image_dir, "driver": driver, "accel": accel,
                          "heartbeat_interval_s": heartbeat_interval_s})
    setup_logging(settings.log_level)
    with translated():
        try:
            asyncio.run(run_agent(settings))
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
    with translated():
        try:
            asyncio.run(Simulation(settings).run())
        except KeyboardInterrupt:
            log.info("simulation of %d hosts stopped", count)
