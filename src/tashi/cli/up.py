"""``tashi up``: the all-in-one cluster on this machine."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import click

from tashi.common.logs import setup_logging
from tashi.embedded.cluster import Cluster, ClusterConfig


def default_data_dir() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "tashi"


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir,
              show_default="~/.local/share/tashi", help="Where the cluster keeps its state.")
@click.option("--port", type=click.IntRange(1, 65535), default=8470, show_default=True)
@click.option("--listen", default="127.0.0.1", show_default=True)
@click.option("--host", "host_name", default="", help="This host's name (default: hostname).")
@click.option("--driver", type=click.Choice(["qemu", "fake"]), default="qemu",
              show_default=True, help="fake runs no VMs (simulation).")
@click.option("--accel", type=click.Choice(["auto", "kvm", "tcg"]), default="auto",
              show_default=True)
@click.option("--tls", is_flag=True,
              help="Serve HTTPS with a certificate from a private CA made in DATA_DIR/tls.")
@click.option("--log-level", default="INFO", show_default=True)
def up(data_dir: Path, port: int, listen: str, host_name: str, driver: str, accel: str,
       tls: bool, log_level: str) -> None:
    """Run a whole cluster here: manager, this host's agent, scheduler (Ctrl-C stops
    them; VMs keep running and are re-adopted by the next `tashi up`)."""
    setup_logging(log_level)
    config = ClusterConfig(data_dir=data_dir.absolute(), port=port, listen=listen,
                           host=host_name, driver=driver, accel=accel, tls=tls)
    cluster = Cluster(config)
    ready = asyncio.Event()

    async def main() -> None:
        announce = asyncio.create_task(_announce(ready, config))
        try:
            await cluster.run(ready=ready)
        finally:
            announce.cancel()

    asyncio.run(main())


async def _announce(ready: asyncio.Event, config: ClusterConfig) -> None:
    await ready.wait()
    ca = f"  export TASHI_CA={config.ca_file}\n" if config.tls else ""
    click.echo(
        f"\nTashi is up on {config.url} (data in {config.data_dir}).\n"
        f"Use it as the admin:\n"
        f"  export TASHI_URL={config.url}\n"
        f"  export TASHI_TOKEN=$(cat {config.token_file})\n{ca}"
        f"or save both once: tashi login --url {config.url} --token-file {config.token_file}\n"
        f"Then: tashi image import NAME FILE; tashi vm create NAME --image NAME --wait\n",
        err=True)
