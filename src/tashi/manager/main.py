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
import uvicorn

from tashi.api.app import create_app
from tashi.cli.errors import cli_error
from tashi.common.clock import SystemClock
from tashi.common.logs import setup_logging
from tashi.domain.errors import InvalidInput, TashiError
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.manager.pgnotify import notifier_for
from tashi.manager.settings import ManagerSettings
from tashi.manager.usersources.config import directory_of
from tashi.store import migrate_store, open_store
from tashi.store.base import Snapshot, Store
from tashi.store.factory import redact
from tashi.store.transfer import export_store, import_store

log = logging.getLogger(__name__)


def build_core(settings: ManagerSettings, store: Store) -> ManagerCore:
    """The core over ``store``; its notifier crosses replicas when the store is
    PostgreSQL (the one place where the kind of notifier is chosen)."""
    join = settings.join_token.get_secret_value() if settings.join_token else None
    return ManagerCore.build(store, SystemClock(), image_dir=settings.image_dir,
                             heartbeat_timeout_s=settings.heartbeat_timeout_s,
                             join_token=join, directory=directory_of(settings),
                             notifier=notifier_for(settings.db_url))


def prepare_store(settings: ManagerSettings) -> tuple[Store, str | None]:
    """Open (migrating first) the store; make the admin and default network if new."""
    store = open_store(settings.db_url)
    token = ensure_admin(store)
    ensure_default_network(store)
    return store, token


def make_server(settings: ManagerSettings, core: ManagerCore,
                server_class: type[uvicorn.Server] = uvicorn.Server) -> uvicorn.Server:
    app = create_app(core, liveness_interval_s=settings.liveness_interval_s)
    if (settings.tls_cert is None) != (settings.tls_key is None):
        raise InvalidInput("give both TASHI_TLS_CERT and TASHI_TLS_KEY, or neither")
    config = uvicorn.Config(app, host=settings.listen, port=settings.port, log_config=None,
                            access_log=False, timeout_graceful_shutdown=2, lifespan="on",
                            ssl_certfile=settings.tls_cert, ssl_keyfile=settings.tls_key,
                            h11_max_incomplete_event_size=64 * 1024)
    return server_class(config)


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
