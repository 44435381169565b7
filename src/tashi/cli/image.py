"""``tashi image``: the disk images instances boot from."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import click

from tashi.cli.refs import image_name
from tashi.cli.render import age, emit_json, fields, size, table
from tashi.cli.session import Session, pass_session
from tashi.domain.errors import InvalidInput

CHUNK_BYTES = 1024 * 1024


@click.group()
def image() -> None:
    """Disk images."""


@image.command("list")
@pass_session
def list_(session: Session) -> None:
    """List the images."""
    images = session.call(lambda c: c.list_images())
    if session.json:
        emit_json(images)
        return
    rows = [[i.name, i.format, size(i.size_bytes), size(i.virtual_size_bytes), i.owner,
             age(i.created_at)] for i in images]
    click.echo(table(["NAME", "FORMAT", "SIZE", "VIRTUAL-SIZE", "OWNER", "AGE"], rows))


@image.command("show")
@click.argument("name")
@pass_session
def show(session: Session, name: str) -> None:
    """Show image NAME."""
    name = image_name(name)
    out = session.call(lambda c: c.get_image(name))
    if session.json:
        emit_json(out)
        return
    click.echo(fields([("name", out.name), ("format", out.format),
                       ("size", size(out.size_bytes)),
                       ("virtual size", size(out.virtual_size_bytes)), ("owner", out.owner),
                       ("created", f"{out.created_at:%Y-%m-%d %H:%M:%S} UTC")]))


@image.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@pass_session
def import_(session: Session, name: str, path: Path) -> None:
    """Import the qcow2 or raw image at PATH as image NAME."""
    name = image_name(name)
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    with f:
        out = session.call(lambda c: c.upload_image(name, chunks_of(f)))
    if session.json:
        emit_json(out)
        return
    click.echo(table(["NAME", "FORMAT", "SIZE", "VIRTUAL-SIZE"],
                     [[out.name, out.format, size(out.size_bytes),
                       size(out.virtual_size_bytes)]]))


async def chunks_of(f: BinaryIO) -> AsyncIterator[bytes]:
    """The file's bytes, 1 MiB at a time, read off the event loop."""
    while chunk := await asyncio.to_thread(f.read, CHUNK_BYTES):
        yield chunk
