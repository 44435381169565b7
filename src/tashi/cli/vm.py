"""``tashi vm``: create, list, show, pause, reboot, migrate, shut down and destroy instances."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from typing import TextIO

import click
from pydantic import ValidationError

from tashi.api.schemas import DestroyOut, DiskOut, EventOut, InstanceCreate, InstanceOut
from tashi.cli.console import console
from tashi.cli.diskspec import HELP, parse_disk
from tashi.cli.display import screenshot, vnc
from tashi.cli.migrate import migrate, migration_words
from tashi.cli.progress import StatusLine
from tashi.cli.refs import instance_ref
from tashi.cli.render import age, emit_json, fields, mib, table, truncate
from tashi.cli.session import Session, pass_session
from tashi.cli.usagefigures import usage_fields
from tashi.cli.wait import DEFAULT_TIMEOUT_S, wait_for_state, wait_gone, wait_rebooted
from tashi.client import TashiClient
from tashi.client.paging import InstanceFilters
from tashi.domain.errors import InvalidInput, Unavailable
from tashi.domain.states import InstanceState

EVENTS_SHOWN = 5
MESSAGE_WIDTH = 48

wait_option = click.option("--wait", is_flag=True, help="Wait until it is done.")
timeout_option = click.option("--timeout", "timeout_s", type=float, default=DEFAULT_TIMEOUT_S,
                              show_default=True, help="Seconds --wait waits.")


CREATE_ATTEMPTS = 3  # sends of a create whose answer does not come (one key: made once)
CREATE_RETRY_S = 1.0

@click.group()
def vm() -> None:
    """Virtual machines (instances)."""


vm.add_command(console)
vm.add_command(vnc)
vm.add_command(screenshot)
vm.add_command(migrate)


@vm.command()
@click.argument("name")
@click.option("--image", required=True, help="The disk image to boot (see: tashi image list).")
@click.option("--cores", type=int, default=1, show_default=True, help="Virtual CPUs.")
@click.option("--memory", "memory_mib", type=int, default=128, show_default=True,
              help="Memory in MiB.")
@click.option("--persistent", is_flag=True, help="Write to the image itself (no overlay).")
@click.option("--network", "networks", multiple=True, help="A network to attach (repeatable).")
@click.option("--nic-model", default="virtio", show_default=True,
              help="The model of its NICs (those the hosts offer: tashi host show).")
@click.option("--shutdown-timeout", "shutdown_timeout_s", type=int, default=60,
              show_default=True, help="Seconds a guest gets to power off before it is killed.")
@click.option("--disk", "disks", multiple=True, metavar="SPEC", help=HELP)
@click.option("--user-data", type=click.File("r", encoding="utf-8"),
              help="cloud-init user-data (a #! script or #cloud-config), on a NoCloud seed.")
@click.option("--ssh-key", "ssh_keys", multiple=True, type=click.File("r", encoding="utf-8"),
              help="A public key file for the seed to install (repeatable).")
@click.option("--hostname", help="The seed's hostname (default: NAME).")
@click.option("--host", help="Run on this host (stays Pending while it has no room).")
@click.option("--allow-elsewhere", is_flag=True,
              help="With --host: take another host when that one has no room.")
@click.option("--group", help="An instance group of yours to put it in.")
@click.option("--anti-affinity", is_flag=True,
              help="No two members of the group on one host (no --group: NAME is the group).")
@click.option("--ha", is_flag=True, help="High availability: when its host fails, restart "
              "it elsewhere from its image (its overlay and scratch disks are lost).")
@click.option("--count", type=int, default=1, show_default=True,
              help="Create NAME-1 ... NAME-N, all or none.")
@wait_option
@timeout_option
@pass_session
def create(session: Session, /, name: str, networks: tuple[str, ...], disks: tuple[str, ...],
           user_data: TextIO | None, ssh_keys: tuple[TextIO, ...], wait: bool,
           timeout_s: float, **options: object) -> None:
    """Create instance NAME (or --count of them); --wait until Running. With --user-data,
    --ssh-key or --hostname, a cloud-init NoCloud seed disk is attached."""
    body = _create_body(name=name, **options, disks=[parse_disk(d) for d in disks],
                        user_data=user_data.read() if user_data else "",
                        ssh_keys=[line for f in ssh_keys for line in f.read().splitlines()
                                  if line.strip() and not line.startswith("#")],
                        **({"networks": list(networks)} if networks else {}))

    key = secrets.token_hex(16)  # sent again with the create if no answer comes

    async def run(client: TashiClient) -> list[InstanceOut]:
        created = await _create_retrying(client, body, key)
        if not wait:
            return created
        return [await wait_for_state(client, inst.id, InstanceState.RUNNING,
                                     timeout_s=timeout_s, through_retries=True,
                                     fail_on={InstanceState.HELD, InstanceState.EXITED})
                for inst in created]

    created = session.call(run)
    if body.count == 1:
        _emit_brief(session, created[0])
    elif session.json:
        emit_json(created)
    else:
        click.echo(_brief_table(created))


async def _create_retrying(client: TashiClient, body: InstanceCreate,
                           key: str) -> list[InstanceOut]:
    """The create, sent again with the same Idempotency-Key while no answer comes (the
    manager unreachable, or gone before it answered): made once whatever happened."""
    attempt = 1
    while True:
        try:
            if body.count == 1:
                return [await client.create_instance(body, idempotency_key=key)]
            return await client.create_instances(body, idempotency_key=key)
        except Unavailable:
            if attempt == CREATE_ATTEMPTS:
                raise
        attempt += 1
        await asyncio.sleep(CREATE_RETRY_S)


def _create_body(**fields: object) -> InstanceCreate:
    try:
        return InstanceCreate.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}") from exc


@vm.command("list")
@click.option("--state", "states", multiple=True,
              help="Only those in this state (repeatable, or S1,S2).")
@click.option("--host", help="Only those on this host.")
@click.option("--user", "owner", help="Only this user's (users: only their own).")
@click.option("--name", help="Only those whose names start with this.")
@click.option("--network", help="Only those with a NIC on this network.")
@click.option("--limit", type=int,
              help="Only the first N (by id); default: all, fetched a page at a time.")
@pass_session
def list_(session: Session, states: tuple[str, ...], host: str | None, owner: str | None,
          name: str | None, network: str | None, limit: int | None) -> None:
    """List the instances you may see (meeting every filter given)."""
    filters = InstanceFilters(state=list(states) or None, host=host, owner=owner, name=name,
                              network=network)

    async def run(client: TashiClient) -> list[InstanceOut]:
        if limit is not None:
            return await client.list_instances(limit=limit, **filters)
        return [i async for i in client.iter_instances(**filters)]

    instances = session.call(run)
    if session.json:
        emit_json(instances)
        return
    rows = [[str(i.id), i.name, i.owner, i.state, i.host or "-", str(i.cores),
             mib(i.memory_mib), age(i.created_at), truncate(i.message, MESSAGE_WIDTH)]
            for i in instances]
    click.echo(table(["ID", "NAME", "OWNER", "STATE", "HOST", "CORES", "MEMORY", "AGE",
                      "MESSAGE"], rows))


@vm.command()
@click.argument("ref")
@pass_session
def show(session: Session, ref: str) -> None:
    """Show instance REF (a name or an id) and its last events."""
    ref = instance_ref(ref)

    async def run(client: TashiClient) -> tuple[InstanceOut, list[EventOut]]:
        inst = await client.get_instance(ref)
        return inst, await client.events(inst.id)

    inst, events = session.call(run)
    if session.json:
        emit_json({**inst.model_dump(mode="json"), "events": events})
        return
    click.echo(fields(_details(inst)))
    if events:
        click.echo("events:")
        for event in events[-EVENTS_SHOWN:]:
            click.echo(f"  {age(event.at):>4} ago  {' '.join(event.message.split())}")


def _details(i: InstanceOut) -> list[tuple[str, str]]:
    disks = ", ".join(_disk_words(d) for d in i.disks)
    nics = ", ".join(f"{n.network} {n.mac} {n.model}" for n in i.nics)
    observed = f"{i.observed} ({age(i.observed_at)} ago)" if i.observed_at else i.observed
    return [
        ("id", str(i.id)), ("name", i.name), ("owner", i.owner), ("state", i.state),
        ("wanted", str(i.power)), ("message", i.message), ("host", i.host or "-"),
        ("cores", str(i.cores)),
        ("memory", mib(i.memory_mib)), ("disks", disks or "-"), ("nics", nics or "-"),
        ("host disk", f"{i.disk_gib} GiB claimed" if i.disk_gib else "-"),
        ("seed", _seed_words(i)),
        ("reboots", f"{i.reboots_done} of {i.reboots} asked done" if i.reboots else "-"),
        ("saved state", _saved_words(i)), ("last failure", i.last_failure or "-"),
        ("migration", _migrating_words(i)), ("last migration", migration_words(i)),
        ("placement", _placement(i)), ("high availability", _ha_words(i)), *_attempts(i),
        ("observed", observed or "-"), ("shutdown timeout", f"{i.shutdown_timeout_s}s"),
        ("generation", str(i.generation)), ("created", f"{age(i.created_at)} ago"),
        ("updated", f"{age(i.updated_at)} ago"), *usage_fields(i.usage),
    ]


def _migrating_words(i: InstanceOut) -> str:
    """``h1 -> h2, memory 45% (120 MiB sent, 8 MiB left, 300 pages/s dirtied)``, or ``-``."""
    m = i.migration
    if m is None:
        return "-"
    words = f"{m.source} -> {m.target}, {m.phase}"
    if m.percent is not None:
        words += (f" {m.percent}% ({mib((m.transferred_bytes or 0) >> 20)} sent, "
                  f"{mib((m.remaining_bytes or 0) >> 20)} left, "
                  f"{m.dirty_pages_rate or 0} pages/s dirtied)")
    return words


def _saved_words(i: InstanceOut) -> str:
    """Its suspend or resume under way (``45%``), or its state saved, or ``-``."""
    if i.progress is not None:
        return f"{'saving' if i.state == InstanceState.SUSPENDING else 'restoring'}: " \
               f"{i.progress}%"
    return "in the suspend directory" if i.saved else "-"


def _disk_words(d: DiskOut) -> str:
    """``debian (persistent)``, ``100 GiB scratch``, ``5 GiB blank (scsi, cache none)``."""
    what = f"{d.size_gib} GiB {'scratch' if d.scratch else 'blank'}" if not d.image else (
        f"{d.image}{' (persistent)' if d.persistent else ''}")
    how = [str(d.bus)] if d.bus != "virtio" else []
    how += [f"cache {d.cache}"] if d.cache != "writeback" else []
    return f"{what} ({', '.join(how)})" if how else what


def _seed_words(i: InstanceOut) -> str:
    """``hostname web, 2 SSH keys, user-data 120 bytes (sha256 4f2a...)``, or ``-``."""
    if i.seed is None:
        return "-"
    s = i.seed
    data = (f"user-data {s.user_data_bytes} bytes (sha256 {s.user_data_sha256[:12]})"
            if s.user_data_bytes else "no user-data")
    return f"hostname {s.hostname}, {len(s.ssh_keys)} SSH keys, {data}"


def _placement(i: InstanceOut) -> str:
    words = []
    if i.target_host:
        words.append(f"on host {i.target_host}{' or elsewhere' if i.allow_elsewhere else ''}")
    if i.group:
        words.append(f"group {i.group}{' (anti-affinity)' if i.anti_affinity else ''}")
    return ", ".join(words) or "any host"


def _ha_words(i: InstanceOut) -> str:
    """``on; restart 1: host m1 last heard 41 s ago, restarted 11 s later (its overlay
    there lost), running again 34.2 s after the last heartbeat``, ``on``, or ``off``."""
    r = i.restarted
    if r is None:
        return "on" if i.ha else "off"
    words = (f"{'on' if i.ha else 'off'}; restart {r.number}: host {r.host} last heard "
             f"{age(r.heard_at)} ago, restarted {(r.at - r.heard_at).total_seconds():.1f} s "
             "later (its overlay there lost)")
    if i.recovered_at is not None and i.recovered_at >= r.at:
        words += (f", running again {(i.recovered_at - r.heard_at).total_seconds():.1f} s "
                  "after the last heartbeat")
    return words


def _attempts(i: InstanceOut) -> list[tuple[str, str]]:
    """The failed starts, the hosts avoided and the next retry, when there are any."""
    if not i.failures:
        return []
    now = datetime.now(UTC)
    last = i.failures[-1]
    rows = [("failed starts", f"{i.attempts}; the last on host {last.host} "
                              f"{age(last.at, now)} ago: {last.reason}")]
    avoided = [f"{a.host} (for {age(now, a.until)} more)" for a in i.avoid if a.until > now]
    if avoided:
        rows.append(("avoided hosts", ", ".join(avoided)))
    if i.retry_at is not None:
        rows.append(("retry", f"in {age(now, i.retry_at)}"))
    return rows


@vm.command()
@click.argument("ref")
@wait_option
@timeout_option
@pass_session
def shutdown(session: Session, ref: str, wait: bool, timeout_s: float) -> None:
    """Power off instance REF gracefully; --wait until it has Exited."""
    ref = instance_ref(ref)

    async def run(client: TashiClient) -> InstanceOut:
        inst = await client.shutdown_instance(ref)
        if not wait:
            return inst
        return await wait_for_state(client, inst.id, InstanceState.EXITED, timeout_s=timeout_s)

    _emit_brief(session, session.call(run))


def _power_command(operation: str, reached: InstanceState, doc: str,
                   fail_on: tuple[InstanceState, ...] = ()) -> click.Command:
    """``tashi vm pause|unpause|suspend|resume REF [--wait]``: ask for it, --wait until
    ``reached`` (an error if it comes back to a state of ``fail_on``: the operation
    failed, its message says why); on a terminal, the progress meanwhile."""

    @wait_option
    @timeout_option
    @pass_session
    def command(session: Session, ref: str, wait: bool, timeout_s: float) -> None:
        ref = instance_ref(ref)

        async def run(client: TashiClient) -> InstanceOut:
            inst = await client.operate_instance(ref, operation)
            if not wait:
                return inst
            line = StatusLine()
            try:
                return await wait_for_state(
                    client, inst.id, reached, timeout_s=timeout_s, fail_on=fail_on,
                    seen=lambda i: line.show(f"{i.name}: {i.state}" + (
                        f", {i.progress}%" if i.progress is not None else "")),
                    poll_s=0.25)
            finally:
                line.end()

        _emit_brief(session, session.call(run))

    command.__doc__ = doc
    return vm.command(operation)(click.argument("ref")(command))


_power_command("pause", InstanceState.PAUSED,
               "Freeze instance REF in memory (its CPUs stop); --wait until it is Paused.")
_power_command("unpause", InstanceState.RUNNING,
               "Let paused instance REF run on; --wait until it is Running again.")
_power_command("suspend", InstanceState.SUSPENDED,
               "Save instance REF (memory, devices, disks) to the suspend directory and free "
               "its host; --wait until it is Suspended.",
               fail_on=(InstanceState.RUNNING, InstanceState.PAUSED))
_power_command("resume", InstanceState.RUNNING,
               "Start suspended instance REF again where it stopped, on a host the scheduler "
               "chooses; --wait until it is Running.", fail_on=(InstanceState.SUSPENDED,))


@vm.command()
@click.argument("ref")
@click.option("--hard", is_flag=True, help="Reset at once (default: the guest's own reboot, "
              "a reset after its shutdown timeout).")
@wait_option
@timeout_option
@pass_session
def reboot(session: Session, ref: str, hard: bool, wait: bool, timeout_s: float) -> None:
    """Reboot instance REF (it stays Running); --wait until its host has done it."""
    ref = instance_ref(ref)

    async def run(client: TashiClient) -> InstanceOut:
        inst = await client.reboot_instance(ref, hard=hard)
        if not wait:
            return inst
        return await wait_rebooted(client, inst.id, inst.reboots, timeout_s=timeout_s)

    _emit_brief(session, session.call(run))


@vm.command()
@click.argument("ref")
@click.option("--force", is_flag=True, help="Admins: remove the record now, in any state, "
              "when its host is silent or gone (no agent will report the VM killed).")
@wait_option
@timeout_option
@pass_session
def destroy(session: Session, ref: str, force: bool, wait: bool, timeout_s: float) -> None:
    """Destroy instance REF; --wait until it is gone."""
    ref = instance_ref(ref)

    async def run(client: TashiClient) -> DestroyOut:
        out = await client.destroy_instance(ref, force=force)
        if out.deleted or not wait:
            return out
        await wait_gone(client, out.id, timeout_s=timeout_s)
        return out.model_copy(update={"deleted": True, "instance": None})

    out = session.call(run)
    if session.json:
        emit_json(out)
    elif out.deleted:
        click.echo(f"instance {out.id} ({out.name}): destroyed")
    else:
        click.echo(f"instance {out.id} ({out.name}): {InstanceState.DESTROYING}, "
                   "until its host has killed it")


def _emit_brief(session: Session, inst: InstanceOut) -> None:
    if session.json:
        emit_json(inst)
        return
    click.echo(_brief_table([inst]))


def _brief_table(instances: list[InstanceOut]) -> str:
    return table(["ID", "NAME", "STATE", "MESSAGE"],
                 [[str(i.id), i.name, i.state, truncate(i.message, 60)] for i in instances])
