"""``tashi host``: the hosts that run instances (admins only)."""

from __future__ import annotations

import shlex
from typing import TYPE_CHECKING

import click

from tashi.api.schemas import CapabilitiesWire, HostCredentialOut, HostOut
from tashi.cli.evacuate import evacuate
from tashi.cli.render import age, emit_json, fields, mib, table
from tashi.cli.session import Session, pass_session
from tashi.client.paging import HostFilters

if TYPE_CHECKING:
    from tashi.client import TashiClient


@click.group()
def host() -> None:
    """Hosts (admins only)."""


host.add_command(evacuate)


@host.command("list")
@click.option("--state", "states", multiple=True,
              help="Only those in this state (Normal, Drained...; repeatable, or S1,S2).")
@click.option("--limit", type=int,
              help="Only the first N (by name); default: all, fetched a page at a time.")
@pass_session
def list_(session: Session, states: tuple[str, ...], limit: int | None) -> None:
    """List the hosts, their capacity and what is used of it, by name."""
    filters = HostFilters(state=list(states) or None)

    async def run(client: TashiClient) -> list[HostOut]:
        if limit is not None:
            return await client.list_hosts(limit=limit, **filters)
        return [h async for h in client.iter_hosts(**filters)]

    hosts = session.call(run)
    if session.json:
        emit_json(hosts)
        return
    click.echo(table(HEADERS, [_row(h) for h in hosts]))


HEADERS = ["NAME", "STATE", "UP", "CORES", "MEMORY", "INSTANCES", "HYPERVISOR", "RESERVED-FOR",
           "LAST-HEARTBEAT"]


def _row(h: HostOut) -> list[str]:
    return [h.name, h.state, "yes" if h.up else "no", f"{h.used_cores}/{h.cores}",
            f"{mib(h.used_memory_mib)}/{mib(h.memory_mib)}", str(h.instances),
            h.hypervisor or "-", ",".join(h.reserved_for) or "-",
            f"{age(h.last_heartbeat)} ago" if h.last_heartbeat else "never"]


@host.command()
@click.argument("name")
@pass_session
def show(session: Session, name: str) -> None:
    """Show host NAME: its state, capacity and use, what its drivers can do, and the
    claims on it (which instance holds what, since when)."""
    out = session.call(lambda c: c.get_host(name))
    if session.json:
        emit_json(out)
        return
    click.echo(fields(_details(out)))
    if out.claims:
        click.echo("\nclaims:")
        click.echo(table(["INSTANCE", "OWNER", "ROLE", "CORES", "MEMORY", "DISK", "SINCE"],
                         [[f"{c.instance} ({c.instance_id})", c.owner, c.role, str(c.cores),
                           mib(c.memory_mib), f"{c.disk_gib} GiB", f"{age(c.since)} ago"]
                          for c in out.claims]))


#: The optional abilities, in the order shown.
ABILITIES = (("console", "console"), ("pause", "pause"), ("suspend", "suspend"),
             ("live-migration", "live migration"), ("vnc", "vnc"))


def _details(h: HostOut) -> list[tuple[str, str]]:
    beat = f"{age(h.last_heartbeat)} ago" if h.last_heartbeat else "never"
    up = "yes" if h.up else "no"
    return [
        ("name", h.name), ("state", h.state),
        ("up", f"{up}{', silent' if h.silent else ''} (last heartbeat {beat})"),
        ("cores", f"{h.used_cores}/{h.cores} used"),
        ("memory", f"{mib(h.used_memory_mib)}/{mib(h.memory_mib)} used"),
        ("disk", f"{h.used_disk_gib}/{h.disk_gib} GiB used"),
        ("instances", str(h.instances)),
        ("reserved for", ", ".join(h.reserved_for) or "anyone"),
        ("agent", h.agent_version or "-"),
        *_capabilities(h.hypervisor, h.capabilities),
    ]


def _capabilities(reported: str, caps: CapabilitiesWire | None) -> list[tuple[str, str]]:
    if caps is None:
        return [("hypervisor", reported or "-"),
                ("capabilities", "not reported (the agent is older, or never heartbeated)")]
    cpu = caps.cpu_model or "-"
    if caps.host_cpu:
        cpu += f" (host CPU: {caps.host_cpu})"
    have = set(caps.abilities)
    return [
        ("hypervisor", f"{caps.hypervisor} {caps.version or '(version unknown)'}"
                       f"{f' ({reported})' if reported else ''}"),
        ("accelerator", caps.accelerator or "none"), ("cpu model", cpu),
        ("machine types", _names(caps.machine_types)), ("nic models", _names(caps.nic_models)),
        ("network kinds", _names(caps.network_kinds)), ("disk kinds", _names(caps.disk_kinds)),
        ("disk formats", _names(caps.disk_formats)),
        ("abilities", ", ".join(f"{words} {'yes' if key in have else 'no'}"
                                for key, words in ABILITIES)),
    ]


def _names(names: list[str]) -> str:
    return ", ".join(sorted(names)) or "-"


@host.command()
@click.argument("name")
@pass_session
def add(session: Session, name: str) -> None:
    """Register host NAME and print its agent's credential (shown once)."""
    target = session.target()
    _show_credential(session, session.call(lambda c: c.add_host(name), target=target),
                     target.url)


@host.command()
@click.argument("name")
@pass_session
def credential(session: Session, name: str) -> None:
    """Give host NAME's agent a new credential (shown once), revoking its earlier ones:
    for an agent that lost its credential, or one that may have leaked."""
    target = session.target()
    _show_credential(session, session.call(lambda c: c.reissue_host_credential(name),
                                           target=target), target.url)


def _show_credential(session: Session, out: HostCredentialOut, url: str) -> None:
    if session.json:
        emit_json(out)
        return
    click.echo(table(["NAME", "STATE", "UP"], [[out.host.name, out.host.state,
                                                "yes" if out.host.up else "no"]]))
    click.echo(f"agent credential (shown once): {out.token}")
    click.echo("start its agent with: "
               f"TASHI_AGENT_TOKEN={shlex.quote(out.token)} tashi-agent "
               f"--host {shlex.quote(out.host.name)} --manager-url {shlex.quote(url)}")


@host.command()
@click.argument("name")
@pass_session
def drain(session: Session, name: str) -> None:
    """Drain host NAME: it takes no new instances (those it runs stay)."""
    _set_state(session, name, "Drained")


@host.command()
@click.argument("name")
@pass_session
def undrain(session: Session, name: str) -> None:
    """Return host NAME to Normal: it takes new instances again."""
    _set_state(session, name, "Normal")


def _set_state(session: Session, name: str, state: str) -> None:
    _emit_host(session, session.call(lambda c: c.set_host_state(name, state)))


@host.command()
@click.argument("name")
@click.argument("users", nargs=-1)
@pass_session
def reserve(session: Session, name: str, users: tuple[str, ...]) -> None:
    """Reserve host NAME for USERS' instances only; without USERS, for anyone's again."""
    _emit_host(session, session.call(lambda c: c.reserve_host(name, list(users))))


def _emit_host(session: Session, out: HostOut) -> None:
    if session.json:
        emit_json(out)
        return
    click.echo(table(HEADERS, [_row(out)]))


@host.command("join-token")
@click.argument("action", type=click.Choice(["show", "rotate", "revoke"]))
@pass_session
def join_token(session: Session, action: str) -> None:
    """Show whether agents may self-register, rotate the join token (printed once), or
    revoke it (auto registration off)."""
    out = session.call(lambda c: c.join_token(action))
    if session.json:
        emit_json(out)
        return
    click.echo(f"auto registration: {'on' if out.enabled else 'off'}")
    if out.token:
        click.echo(f"join token (shown once): {out.token}")
        click.echo("agents join with: TASHI_AGENT_JOIN_TOKEN=<token> tashi-agent --manager-url URL")
