"""Alembic environment for Tashi's SQL store.

Run through :func:`tashi.store.sql.migrate.migrate`, which passes an open connection
in ``config.attributes["connection"]``. Offline mode (``--sql``) renders the SQL for
the URL in the ``sqlalchemy.url`` option instead.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from tashi.store.sql.tables import Base


def run_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_online(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=Base.metadata, render_as_batch=True
    )
    with context.begin_transaction():
        context.run_migrations()


def main() -> None:
    if context.is_offline_mode():
        run_offline()
        return
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("run migrations through tashi.store.sql.migrate.migrate(url)")
    run_online(connection)


main()
