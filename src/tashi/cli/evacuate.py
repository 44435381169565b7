"""``tashi host evacuate``: move everything a host runs elsewhere, leaving it Drained."""

from __future__ import annotations

import click

from tashi.api.schemas import HostOut, InstanceOut
from tashi.cli.progress import StatusLine
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session
from tashi.client import TashiClient
from tashi.domain.errors import TashiError

POLL_S = 0.5


@click.command()
@click.argument("name")
@click.option("--wait", is_flag=True, help="Until nothing is left on it, showing what moves.")
@click.option("--timeout", "timeout_s", type=click.IntRange(10, 86_400), default=3600,
              show_default=True, help="Seconds --wait waits at most.")
@pass_session
def evacuate(session: Session, name: str, wait: bool, timeout_s: int) -> None:
    """Evacuate host NAME: it takes no new instances, those it runs move live to other
    hosts (the ones that cannot are suspended and resumed elsewhere; paused ones stay
    suspended), then it is Drained. `tashi host drain NAME` stops it."""

    async def run(client: TashiClient) -> HostOut:
        host = await client.set_host_state(name, "Evacuating")
        return await wait_evacuated(client, host, timeout_s) if wait else host

    host = session.call(run)
    if session.json:
        emit_json(host)
    elif host.state == "Drained":
        click.echo(f"host {host.name}: evacuated; Drained")
    else:
        click.echo(f"host {host.name}: {host.state}, {host.instances} instance(s) on it; "
                   f"`tashi host evacuate {host.name} --wait` follows it")


async def wait_evacuated(client: TashiClient, host: HostOut, timeout_s: float) -> HostOut:
    """The host once it is Drained; an error if its evacuation was stopped or timed out."""
    import asyncio

    line = StatusLine()
    deadline = asyncio.get_running_loop().time() + timeout_s
    try:
        while True:
            host = await client.get_host(host.name)
            if host.state == "Drained":
                return host
            if host.state != "Evacuating":
                raise TashiError(f"host {host.name}: evacuation stopped; it is {host.state}, "
                                 f"{host.instances} instance(s) on it")
            on = await client.list_instances(host=host.name)
            line.show(f"host {host.name}: evacuating, {len(on)} left: "
                      + ", ".join(_words(i) for i in on))
            if asyncio.get_running_loop().time() >= deadline:
                raise TashiError(f"host {host.name}: still evacuating after {timeout_s:g} s "
                                 f"({len(on)} instance(s) left)")
            await asyncio.sleep(POLL_S)
    finally:
        line.end()


def _words(inst: InstanceOut) -> str:
    """``web MigrateTrans 40% to h2``, ``db Suspending``."""
    m = inst.migration
    if m is None:
        return f"{inst.name} {inst.state}"
    percent = f" {m.percent}%" if m.percent is not None else ""
    return f"{inst.name} {inst.state}{percent} to {m.target}"
