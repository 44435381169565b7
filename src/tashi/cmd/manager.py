"""``tashi-manager``: the cluster manager's REST API over its store.

``tashi-manager`` serves; ``tashi-manager --migrate`` brings the store's schema up to
date; ``tashi-manager export FILE`` and ``tashi-manager import FILE`` move the whole
state of a cluster out of a store and into an empty one (see
:mod:`tashi.store.transfer`), e.g. from sqlite to PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import click

from tashi.api.server import make_server
from tashi.cmd.errors import cli_error
from tashi.common.logs import setup_logging
from tashi.domain.errors import TashiError
from tashi.identity.sources.config import directory_of
from tashi.manager.bootstrap import build_core, prepare_store
from tashi.manager.settings import ManagerSettings
from tashi.store import migrate_store, open_store
from tashi.store.base import Snapshot, Store
from tashi.store.factory import redact
from tashi.store.transfer import export_store, import_store

log = logging.getLogger(__name__)


@click.group(invoke_without_command=True)
@click.option("--db-url", help="URL of the store (TASHI_DB_URL): sqlite:///FILE, "
              "postgresql://USER@HOST/DB or pickle:///PATH.")
@click.option("--listen", help="Address to listen on (TASHI_LISTEN).")
@click.option("--port", type=int, help="Port to listen on (TASHI_PORT).")
@click.option("--image-dir", type=click.Path(path_type=Path), help="Image directory.")
@click.option("--migrate", "migrate_only", is_flag=True,
              help="Apply database migrations and exit.")
@click.pass_context
def main(ctx: click.Context, db_url: str | None, listen: str | None, port: int | None,
         image_dir: Path | None, migrate_only: bool) -> None:
    """Run the Tashi cluster manager (or, with a command, export or import its store)."""
    overrides = {k: v for k, v in {"db_url": db_url, "listen": listen, "port": port,
                                   "image_dir": image_dir}.items() if v is not None}
    settings = ManagerSettings.model_validate(overrides)
    setup_logging(settings.log_level)
    ctx.obj = settings
    if ctx.invoked_subcommand is not None:
        return
    if migrate_only:
        with _translated():
            migrate_store(settings.db_url)
        click.echo("store is migrated")
        return
    serve(settings)


def serve(settings: ManagerSettings) -> None:
    with _translated():
        directory_of(settings)  # a misconfigured user source stops us before the store opens
    store, token = prepare_store(settings)
    if token:
        click.echo(f"Created user admin. Its token (shown once): {token}", err=True)
    with _translated():
        server = make_server(settings, build_core(settings, store))
    try:
        asyncio.run(server.serve())
    finally:
        store.close()
    sys.exit(0)


@main.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--db-url", help="URL of the store to read (default: the manager's).")
@click.pass_obj
def export_command(settings: ManagerSettings, file: Path, db_url: str | None) -> None:
    """Write the whole state of the store to FILE (JSON; token hashes, never tokens)."""
    url = db_url or settings.db_url
    snap = _on_store(url, lambda store: export_store(store, file))
    click.echo(f"exported {_counts(snap)} from {redact(url)} to {file}")


@main.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--db-url", help="URL of the empty store to fill (default: the manager's).")
@click.pass_obj
def import_command(settings: ManagerSettings, file: Path, db_url: str | None) -> None:
    """Load FILE (written by export) into an empty store, keeping every id."""
    url = db_url or settings.db_url
    snap = _on_store(url, lambda store: import_store(store, file))
    click.echo(f"imported {_counts(snap)} from {file} into {redact(url)}")


def _on_store(url: str, work: Callable[[Store], Snapshot]) -> Snapshot:
    """``work`` on the store at ``url``, opened for it and closed after; errors as one line."""
    with _translated():
        store = open_store(url)
        try:
            return work(store)
        finally:
            store.close()


def _counts(snap: Snapshot) -> str:
    return (f"{len(snap.instances)} instances, {len(snap.hosts)} hosts, "
            f"{len(snap.users)} users, {len(snap.events)} events")


@contextlib.contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except TashiError as exc:
        raise cli_error(exc.message, exc.exit_code) from exc
