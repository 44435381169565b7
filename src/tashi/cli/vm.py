"""``tashi vm``: create, list, show, shut down and destroy instances."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from pydantic import ValidationError

from tashi.api.schemas import DestroyOut, EventOut, InstanceCreate, InstanceOut
from tashi.cli.console import console
from tashi.cli.refs import instance_ref
from tashi.cli.render import age, emit_json, fields, mib, table, truncate
from tashi.cli.session import Session, pass_session
from tashi.cli.wait import DEFAULT_TIMEOUT_S, wait_for_state, wait_gone
from tashi.client import TashiClient
from tashi.domain.errors import InvalidInput
from tashi.domain.states import InstanceState

EVENTS_SHOWN = 5
MESSAGE_WIDTH = 48

wait_option = click.option("--wait", is_flag=True, help="Wait until it is done.")
timeout_option = click.option("--timeout", "timeout_s", type=float, default=DEFAULT_TIMEOUT_S,
                              show_default=True, help="Seconds --wait waits.")


@click.group()
def vm() -> None:
    """Virtual machines (instances)."""


vm.add_command(console)


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
@click.option("--disk", "disk_gib", type=int, default=0, show_default=True,
              help="Scratch disk on the host, GiB (a request field for now).")
@click.option("--host", help="Run on this host (stays Pending while it has no room).")
@click.option("--allow-elsewhere", is_flag=True,
              help="With --host: take another host when that one has no room.")
@click.option("--group", help="An instance group of yours to put it in.")
@click.option("--anti-affinity", is_flag=True,
              help="No two members of the group on one host (no --group: NAME is the group).")
@click.option("--count", type=int, default=1, show_default=True,
              help="Create NAME-1 ... NAME-N, all or none.")
@wait_option
@timeout_option
@pass_session
def create(session: Session, /, name: str, networks: tuple[str, ...], wait: bool,
           timeout_s: float, **options: object) -> None:
    """Create instance NAME (or --count of them); --wait until Running."""
    body = _create_body(name=name, **options,
                        **({"networks": list(networks)} if networks else {}))

    async def run(client: TashiClient) -> list[InstanceOut]:
        created = ([await client.create_instance(body)] if body.count == 1
                   else await client.create_instances(body))
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


def _create_body(**fields: object) -> InstanceCreate:
    try:
        return InstanceCreate.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{where}: {first['msg']}") from exc


@vm.command("list")
@pass_session
def list_(session: Session) -> None:
    """List the instances you may see."""
    instances = session.call(lambda c: c.list_instances())
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
    disks = ", ".join(f"{d.image}{' (persistent)' if d.persistent else ''}" for d in i.disks)
    nics = ", ".join(f"{n.network} {n.mac} {n.model}" for n in i.nics)
    observed = f"{i.observed} ({age(i.observed_at)} ago)" if i.observed_at else i.observed
    return [
        ("id", str(i.id)), ("name", i.name), ("owner", i.owner), ("state", i.state),
        ("wanted", str(i.power)), ("message", i.message), ("host", i.host or "-"),
        ("cores", str(i.cores)),
        ("memory", mib(i.memory_mib)), ("disks", disks or "-"), ("nics", nics or "-"),
        ("scratch disk", f"{i.disk_gib} GiB" if i.disk_gib else "-"),
        ("placement", _placement(i)), *_attempts(i),
        ("observed", observed or "-"), ("shutdown timeout", f"{i.shutdown_timeout_s}s"),
        ("generation", str(i.generation)), ("created", f"{age(i.created_at)} ago"),
        ("updated", f"{age(i.updated_at)} ago"),
    ]


def _placement(i: InstanceOut) -> str:
    words = []
    if i.target_host:
        words.append(f"on host {i.target_host}{' or elsewhere' if i.allow_elsewhere else ''}")
    if i.group:
        words.append(f"group {i.group}{' (anti-affinity)' if i.anti_affinity else ''}")
    return ", ".join(words) or "any host"


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


@vm.command()
@click.argument("ref")
@wait_option
@timeout_option
@pass_session
def destroy(session: Session, ref: str, wait: bool, timeout_s: float) -> None:
    """Destroy instance REF; --wait until it is gone."""
    ref = instance_ref(ref)

    async def run(client: TashiClient) -> DestroyOut:
        out = await client.destroy_instance(ref)
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
