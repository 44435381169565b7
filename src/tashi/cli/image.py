"""``tashi image``: the disk images instances boot from."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import BinaryIO

import click

from tashi.api.schemas import ImageOut
from tashi.cli.progress import Progress, counted
from tashi.cli.refs import image_name, image_ref
from tashi.cli.render import age, emit_json, fields, size, table
from tashi.cli.session import Session, pass_session
from tashi.domain.errors import InvalidInput
from tashi.domain.resources import MAX_MEMORY_MIB

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
             i.visibility, _min_memory(i.min_memory_mib), age(i.created_at)] for i in images]
    click.echo(table(["NAME", "FORMAT", "SIZE", "VIRTUAL-SIZE", "OWNER", "VISIBILITY",
                      "MIN-MEMORY", "AGE"], rows))


@image.command("show")
@click.argument("name")
@pass_session
def show(session: Session, name: str) -> None:
    """Show image NAME (yours, else the public one) or OWNER/NAME."""
    name = image_ref(name)
    out = session.call(lambda c: c.get_image(name))
    if session.json:
        emit_json(out)
        return
    click.echo(fields([("name", out.name), ("format", out.format),
                       ("size", size(out.size_bytes)),
                       ("virtual size", size(out.virtual_size_bytes)), ("owner", out.owner),
                       ("visibility", out.visibility),
                       ("min memory", _min_memory(out.min_memory_mib)),
                       ("created", f"{out.created_at:%Y-%m-%d %H:%M:%S} UTC")]))


@image.command("copy")
@click.argument("source")
@click.argument("name")
@pass_session
def copy(session: Session, source: str, name: str) -> None:
    """Copy image SOURCE (yours, a public one, or OWNER/NAME) into your image NAME."""
    source, name = image_ref(source), image_name(name)
    _emit_made(session, session.call(lambda c: c.copy_image(source, name)))


@image.command("delete")
@click.argument("name")
@pass_session
def delete(session: Session, name: str) -> None:
    """Delete image NAME (yours) or OWNER/NAME (admins): refused while a disk uses it."""
    name = image_ref(name)
    session.call(lambda c: c.delete_image(name))
    if session.json:
        emit_json({"deleted": name})
        return
    click.echo(f"image {name}: deleted")


@image.command("import")
@click.argument("name")
@click.argument("path", type=click.Path(path_type=Path))
@click.option("--public", is_flag=True,
              help="Admins: every user may boot it by NAME (default: yours only).")
@click.option("--min-memory", "min_memory", type=click.IntRange(1, MAX_MEMORY_MIB),
              metavar="MIB", help="The least memory (MiB) its guest boots with; "
              "smaller instances are refused.")
@pass_session
def import_(session: Session, name: str, path: Path, public: bool,
            min_memory: int | None) -> None:
    """Import the qcow2 or raw image at PATH as your image NAME (on a terminal: with
    its progress, bytes and rate)."""
    name = image_name(name)
    try:
        f = path.open("rb")
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}") from exc
    with f:
        shown = Progress(f"uploading {name}", os.fstat(f.fileno()).st_size)
        out = session.call(lambda c: c.upload_image(
            name, counted(chunks_of(f), shown), public=public,
            min_memory_mib=min_memory or 0))
    _emit_made(session, out)


def _emit_made(session: Session, out: ImageOut) -> None:
    if session.json:
        emit_json(out)
        return
    click.echo(table(["NAME", "FORMAT", "SIZE", "VIRTUAL-SIZE"],
                     [[out.name, out.format, size(out.size_bytes),
                       size(out.virtual_size_bytes)]]))


def _min_memory(mib: int) -> str:
    return f"{mib} MiB" if mib else "-"


async def chunks_of(f: BinaryIO) -> AsyncIterator[bytes]:
    """The file's bytes, 1 MiB at a time, read off the event loop."""
    while chunk := await asyncio.to_thread(f.read, CHUNK_BYTES):
        yield chunk
