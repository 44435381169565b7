"""``tashi-agent``: the node agent of one host; ``tashi-agent simulate``: many
simulated hosts (fake driver) in one process."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import click
from pydantic import ValidationError

from tashi.agent.process import run_agent
from tashi.agent.settings import AgentSettings
from tashi.agent.simulation import Simulation, SimulationSettings
from tashi.cmd.errors import cli_error, translated
from tashi.common.logs import setup_logging
from tashi.domain.errors import InvalidInput
from tashi.domain.names import check_name

log = logging.getLogger(__name__)


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
@click.option("--manager-url", help="The manager's URL, or its replicas' separated by "
              "commas (TASHI_AGENT_MANAGER_URL).")
@click.option("--host", help="This host's name (default: from the hostname).")
@click.option("--state-dir", type=click.Path(path_type=Path), help="Runtime state directory.")
@click.option("--image-dir", type=click.Path(path_type=Path), help="Image directory.")
@click.option("--suspend-dir", type=click.Path(path_type=Path),
              help="Where suspended VMs are saved (shared by the hosts, like the images).")
@click.option("--driver", type=click.Choice(["qemu", "fake"]), help="Hypervisor driver.")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), help="QEMU accelerator.")
@click.option("--heartbeat-interval", "heartbeat_interval_s",
              type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
              help="Seconds between heartbeats (TASHI_AGENT_HEARTBEAT_INTERVAL_S; "
                   "default 10).")
@click.option("--address", help="The IP address other hosts reach this host on "
              "(TASHI_AGENT_ADDRESS; default 127.0.0.1).")
@click.pass_context
def main(ctx: click.Context, manager_url: str | None, host: str | None,
         state_dir: Path | None, image_dir: Path | None, suspend_dir: Path | None,
         driver: str | None,
         accel: str | None, heartbeat_interval_s: float | None,
         address: str | None) -> None:
    """Run the Tashi agent of this host. Credentials come from TASHI_AGENT_TOKEN,
    TASHI_AGENT_JOIN_TOKEN or the credential saved in the state directory.

    Until the manager answers, the agent keeps trying (1 s, doubling to 30 s); a
    refused credential or join token stops it with one line and a non-zero exit."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings({"manager_url": manager_url, "host": host, "state_dir": state_dir,
                          "image_dir": image_dir, "suspend_dir": suspend_dir,
                          "driver": driver, "accel": accel,
                          "heartbeat_interval_s": heartbeat_interval_s,
                          "address": address})
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


if __name__ == "__main__":  # ``python -m tashi.cmd.agent``, e.g. under ``ip netns exec``
    main()
