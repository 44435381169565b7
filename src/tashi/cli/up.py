"""``tashi up``: the all-in-one cluster on this machine."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from tashi.common.logs import LEVELS, logging_to_file
from tashi.embedded.cluster import Cluster, ClusterConfig, make_data_dir
from tashi.embedded.hosts import MAX_HOSTS, require_root

LOG_FILE = "tashi-up.log"


class EnvOption(click.Option):
    """An option that also reads an environment variable (its --help says which), and
    names it in an error only when the bad value came from it."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["show_envvar"] = True
        super().__init__(*args, **kwargs)

    def get_error_hint(self, ctx: click.Context | None) -> str:
        hint = " / ".join(f"'{opt}'" for opt in self.opts)
        if (ctx is not None and self.name is not None
                and ctx.get_parameter_source(self.name) is ParameterSource.ENVIRONMENT):
            hint += f" (env var: '{self.envvar}')"
        return hint


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tashi"


@click.command(epilog="Every other setting of tashi-manager and tashi-agent is read from "
               "the environment as they read it, e.g. TASHI_HEARTBEAT_TIMEOUT_S, "
               "TASHI_JOIN_TOKEN, TASHI_USER_SOURCES with TASHI_LDAP_* or TASHI_SYSTEM_*, "
               "TASHI_AGENT_DISK_GIB (see the README's Configuration). The store "
               "(DATA_DIR/tashi.db) and the image directory (DATA_DIR/images) are always "
               "the data directory's.")
@click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir,
              show_default="~/.local/share/tashi", envvar="TASHI_DATA_DIR", cls=EnvOption,
              help="Where the cluster keeps its state and its log.")
@click.option("--port", type=click.IntRange(1, 65535), default=8470, show_default=True,
              envvar="TASHI_PORT", cls=EnvOption)
@click.option("--listen", default="127.0.0.1", show_default=True, envvar="TASHI_LISTEN",
              cls=EnvOption)
@click.option("--host", "host_name", default="", envvar="TASHI_AGENT_HOST", cls=EnvOption,
              help="This host's name (default: hostname).")
@click.option("--driver", type=click.Choice(["qemu", "fake"]), default="qemu",
              show_default=True, envvar="TASHI_AGENT_DRIVER", cls=EnvOption,
              help="fake runs no VMs (simulation).")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default="auto",
              show_default=True, envvar="TASHI_AGENT_ACCEL", cls=EnvOption)
@click.option("--tls", is_flag=True, envvar="TASHI_TLS", cls=EnvOption,
              help="Serve HTTPS with a certificate from a private CA made in DATA_DIR/tls.")
@click.option("--hosts", type=click.IntRange(1, MAX_HOSTS), default=1, show_default=True,
              envvar="TASHI_HOSTS", cls=EnvOption,
              help="How many hosts: more than 1 runs hosts h1..hN, each its agent in a "
                   "network namespace of its own (needs root); their state is in "
                   "DATA_DIR/hosts.")
@click.option("--subnet", default="", envvar="TASHI_SUBNET", cls=EnvOption,
              help="The hosts' IPv4 subnet with --hosts > 1 (default: a 10.x.y.0/24 "
                   "derived from the data directory).")
@click.option("--log-level", type=click.Choice(LEVELS, case_sensitive=False), default="INFO",
              show_default=True, envvar="TASHI_LOG_LEVEL", cls=EnvOption,
              help=f"What goes to DATA_DIR/{LOG_FILE} (warnings and errors also to stderr).")
def up(data_dir: Path, port: int, listen: str, host_name: str, driver: str, accel: str,
       tls: bool, hosts: int, subnet: str, log_level: str) -> None:
    """Run a whole cluster here: manager, this host's agent, scheduler (Ctrl-C stops
    them; VMs keep running and are re-adopted by the next `tashi up`)."""
    if hosts > 1:
        require_root(hosts)
        ctx = click.get_current_context()
        if host_name and ctx.get_parameter_source("host_name") is ParameterSource.COMMANDLINE:
            raise click.UsageError("--host names the one host of --hosts 1; with --hosts "
                                   f"{hosts} the hosts are h1..h{hosts}")
        host_name = ""
    config = ClusterConfig(data_dir=data_dir.absolute(), port=port, listen=listen,
                           host=host_name, driver=driver, accel=accel, tls=tls,
                           hosts=hosts, subnet=subnet)
    make_data_dir(config.data_dir)
    cluster = Cluster(config)
    ready = asyncio.Event()

    async def main() -> None:
        announce = asyncio.create_task(_announce(ready, config, cluster))
        try:
            await cluster.run(ready=ready)
        finally:
            announce.cancel()

    with logging_to_file(config.data_dir / LOG_FILE, log_level):
        asyncio.run(main())
    click.echo(f"Tashi on {config.url} stopped; VMs keep running and are re-adopted by "
               "the next tashi up.", err=True)


async def _announce(ready: asyncio.Event, config: ClusterConfig,
                    cluster: Cluster | None = None) -> None:
    await ready.wait()
    log_file = config.data_dir / LOG_FILE
    ca = f"  export TASHI_CA={config.ca_file}\n" if config.tls else ""
    net = None if cluster is None else cluster.network
    hosts = "" if net is None else (
        f"Hosts {net.hosts[0].name}..{net.hosts[-1].name} on {net.layout.subnet}, each in "
        f"its network namespace {net.layout.prefix}NAME (their agents' logs: "
        f"{config.data_dir / 'hosts'}/NAME/agent.log).\n")
    click.echo(
        f"\nTashi is up on {config.url} (data in {config.data_dir}; log: {log_file}).\n"
        f"{hosts}"
        f"Use it as the admin:\n"
        f"  export TASHI_URL={config.url}\n"
        f"  export TASHI_TOKEN=$(cat {config.token_file})\n{ca}"
        f"or save both once: tashi login --url {config.url} --token-file {config.token_file}\n"
        f"Then: tashi image import NAME FILE; tashi vm create NAME --image NAME --wait\n",
        err=True)
