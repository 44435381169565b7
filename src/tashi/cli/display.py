"""``tashi vm vnc`` and ``tashi vm screenshot``: a running instance's display."""

from __future__ import annotations

from pathlib import Path

import click

from tashi.cli.refs import instance_ref
from tashi.cli.render import emit_json
from tashi.cli.session import Session, pass_session
from tashi.domain.errors import InvalidInput


@click.command("vnc")
@click.argument("ref")
@click.option("--stop", is_flag=True, help="End its VNC server instead.")
@pass_session
def vnc(session: Session, ref: str, stop: bool) -> None:
    """Start a VNC server on Running instance REF's display and print where it listens
    and its password (a new one each time: the one before stops working)."""
    ref = instance_ref(ref)
    if stop:
        session.call(lambda c: c.close_vnc(ref))
        if session.json:
            emit_json({"instance": ref, "vnc": "stopped"})
        else:
            click.echo(f"instance {ref}: VNC server stopped")
        return
    out = session.call(lambda c: c.open_vnc(ref))
    if session.json:
        emit_json(out)
        return
    click.echo(f"instance {out.id} ({out.name}): VNC on {out.host}:{out.port}\n"
               f"password: {out.password}")


@click.command("screenshot")
@click.argument("ref")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@pass_session
def screenshot(session: Session, ref: str, file: Path) -> None:
    """Save a screenshot of Running instance REF's display to FILE (a PNG)."""
    ref = instance_ref(ref)
    if file.suffix.lower() != ".png":
        raise InvalidInput(f"{file}: a screenshot is a PNG: name the file FILE.png")
    png = session.call(lambda c: c.screenshot(ref))
    try:
        file.write_bytes(png)
    except OSError as exc:
        raise InvalidInput(f"cannot write the screenshot of instance {ref} to {file}: "
                           f"{exc.strerror}") from exc
    if session.json:
        emit_json({"instance": ref, "file": str(file), "bytes": len(png)})
    else:
        click.echo(f"instance {ref}: screenshot saved to {file} ({len(png)} bytes)")
