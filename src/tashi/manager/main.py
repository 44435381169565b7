"""``tashi-manager``: the cluster manager's REST API over its store."""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

import click
import uvicorn

from tashi.api.app import create_app
from tashi.common.clock import SystemClock
from tashi.common.logs import setup_logging
from tashi.manager.bootstrap import ensure_admin, ensure_default_network
from tashi.manager.core import ManagerCore
from tashi.manager.settings import ManagerSettings
from tashi.store.base import Store
from tashi.store.sql import migrate, open_store

log = logging.getLogger(__name__)


def build_core(settings: ManagerSettings, store: Store) -> ManagerCore:
    join = settings.join_token.get_secret_value() if settings.join_token else None
    return ManagerCore.build(store, SystemClock(), image_dir=settings.image_dir,
                             heartbeat_timeout_s=settings.heartbeat_timeout_s,
                             join_token=join)


def prepare_store(settings: ManagerSettings) -> tuple[Store, str | None]:
    """Open (migrating first) the store; make the admin and default network if new."""
    store = open_store(settings.db_url)
    token = ensure_admin(store)
    ensure_default_network(store)
    return store, token


def make_server(settings: ManagerSettings, core: ManagerCore,
                server_class: type[uvicorn.Server] = uvicorn.Server) -> uvicorn.Server:
    app = create_app(core, liveness_interval_s=settings.liveness_interval_s)
    config = uvicorn.Config(app, host=settings.listen, port=settings.port, log_config=None,
                            access_log=False, timeout_graceful_shutdown=2, lifespan="on")
    return server_class(config)


@click.command()
@click.option("--db-url", help="SQLAlchemy URL of the store (TASHI_DB_URL).")
@click.option("--listen", help="Address to listen on (TASHI_LISTEN).")
@click.option("--port", type=int, help="Port to listen on (TASHI_PORT).")
@click.option("--image-dir", type=click.Path(path_type=Path), help="Image directory.")
@click.option("--migrate", "migrate_only", is_flag=True,
              help="Apply database migrations and exit.")
def main(db_url: str | None, listen: str | None, port: int | None, image_dir: Path | None,
         migrate_only: bool) -> None:
    """Run the Tashi cluster manager."""
    overrides = {k: v for k, v in {"db_url": db_url, "listen": listen, "port": port,
                                   "image_dir": image_dir}.items() if v is not None}
    settings = ManagerSettings.model_validate(overrides)
    setup_logging(settings.log_level)
    if migrate_only:
        migrate(settings.db_url)
        click.echo("store is migrated")
        return
    store, token = prepare_store(settings)
    if token:
        click.echo(f"Created user admin. Its token (shown once): {token}", err=True)
    server = make_server(settings, build_core(settings, store))
    try:
        asyncio.run(server.serve())
    finally:
        store.close()
    sys.exit(0)
