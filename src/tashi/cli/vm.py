"""``tashi vm``: create, list, show, shut down and destroy instances."""

from __future__ import annotations

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
@click.option("--shutdown-timeout", "shutdown_timeout_s", type=int, default=60,
              show_default=True, help="Seconds a guest gets to power off before it is killed.")
@wait_option
@timeout_option
@pass_session
def create(session: Session, name: str, image: str, cores: int, memory_mib: int,
           persistent: bool, networks: tuple[str, ...], shutdown_timeout_s: int, wait: bool,
           timeout_s: float) -> None:
    """Create instance NAME; --wait until it is Running."""
    body = _create_body(name=name, image=image, cores=cores, memory_mib=memory_mib,
                        persistent=persistent, shutdown_timeout_s=shutdown_timeout_s,
                        **({"networks": list(networks)} if networks else {}))

    async def run(client: TashiClient) -> InstanceOut:
        inst = await client.create_instance(body)
        if not wait:
            return inst
        return await wait_for_state(client, inst.id, InstanceState.RUNNING, timeout_s=timeout_s,
                                    fail_on={InstanceState.HELD, InstanceState.EXITED})

    _emit_brief(session, session.call(run))


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
        ("message", i.message), ("host", i.host or "-"), ("cores", str(i.cores)),
        ("memory", mib(i.memory_mib)), ("disks", disks or "-"), ("nics", nics or "-"),
        ("observed", observed or "-"), ("shutdown timeout", f"{i.shutdown_timeout_s}s"),
        ("generation", str(i.generation)), ("created", f"{age(i.created_at)} ago"),
        ("updated", f"{age(i.updated_at)} ago"),
    ]


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
    click.echo(table(["ID", "NAME", "STATE", "MESSAGE"],
                     [[str(inst.id), inst.name, inst.state, truncate(inst.message, 60)]]))
