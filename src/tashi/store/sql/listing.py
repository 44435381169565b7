"""The queries behind :meth:`~tashi.store.base.Store.list_instances` and
:meth:`~tashi.store.base.Store.list_hosts`: filters and keyset pages, alike on sqlite
and PostgreSQL.

Pages are keyset pages (``after`` the last key of the page before, ``limit`` rows), so
an instance created or destroyed between two pages moves no other one from its page:
instances by id, hosts by name. What differs between the databases is written here
once, so that both answer the same rows in the same order:

- a name prefix is compared with ``substr``, not ``LIKE`` (case-insensitive on sqlite);
- a network is looked up in the spec's NIC documents (sqlite's ``json_each``,
  PostgreSQL's ``@>`` on JSONB);
- host names are ordered and compared bytewise (PostgreSQL: ``COLLATE "C"``, whatever
  the database's locale; sqlite's default is bytewise already).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import ColumnElement, Dialect, Select, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from tashi.domain.states import HostState, InstanceState
from tashi.store.sql.tables import HostRow, InstanceRow, plain


def instances(
    dialect: Dialect, *, owner: str | None = None, host: str | None = None,
    states: Iterable[InstanceState] | None = None, name: str | None = None,
    ids: Collection[int] | None = None, name_prefix: str | None = None,
    network: str | None = None, after: int | None = None, limit: int | None = None,
) -> Select[Any]:
    """The instances matching every filter given, by id: those after id ``after``,
    at most ``limit`` of them."""
    where: list[ColumnElement[bool]] = []
    for column, value in ((InstanceRow.owner, owner), (InstanceRow.host, host),
                          (InstanceRow.name, name)):
        if value is not None:
            where.append(column == value)
    if ids is not None:
        where.append(InstanceRow.id.in_(sorted(ids)))
    if states is not None:
        where.append(InstanceRow.state.in_([s.value for s in states]))
    if name_prefix:
        where.append(func.substr(InstanceRow.name, 1, len(name_prefix)) == name_prefix)
    if network is not None:
        where.append(_on_network(dialect, network))
    if after is not None:
        where.append(InstanceRow.id > after)
    stmt = plain(InstanceRow).where(*where).order_by(InstanceRow.id)
    return stmt if limit is None else stmt.limit(limit)


def hosts(dialect: Dialect, *, states: Iterable[HostState] | None = None,
          after: str | None = None, limit: int | None = None) -> Select[Any]:
    """The hosts in ``states`` (default: any), by name: those after ``after``, at most
    ``limit`` of them."""
    name = _bytewise(dialect, HostRow.__table__.c.name)
    stmt = plain(HostRow).order_by(name)
    if states is not None:
        stmt = stmt.where(HostRow.state.in_([s.value for s in states]))
    if after is not None:
        stmt = stmt.where(name > after)
    return stmt if limit is None else stmt.limit(limit)


def _on_network(dialect: Dialect, network: str) -> ColumnElement[bool]:
    """The instance has a NIC on ``network`` (its spec's ``nics``, see store.documents)."""
    if dialect.name == "postgresql":
        nics = type_coerce(InstanceRow.spec, JSONB)["nics"]
        return nics.contains([{"network": network}])
    nic = func.json_each(InstanceRow.spec, "$.nics").table_valued("value")
    return (select(literal(1)).select_from(nic)
            .where(func.json_extract(nic.c.value, "$.network") == network).exists())


def _bytewise(dialect: Dialect, column: ColumnElement[Any]) -> ColumnElement[Any]:
    return column.collate("C") if dialect.name == "postgresql" else column
