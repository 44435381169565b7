"""What the pickle store saves: every row of its sqlite database, as plain data.

::

    {"format": "tashi-pickle", "schema": "0005",        # the Alembic revision
     "tables": {"users": {"columns": ["id", "name", ...], "rows": [(1, "alice", ...)]},
                ..., "sqlite_sequence": {...}}}           # ids never reused

Values are sqlite's own (strings, integers, None): times as the SQL store keeps them,
JSON documents as text. Reading the rows costs a fraction of what reading records
would (:meth:`~tashi.store.sql.SqlStore.snapshot`), and the file follows the schema's
migrations: :func:`load` fills a database at the file's revision, which the caller then
migrates to the newest, as any SQL store is. Table and column names are checked against
the database before they are used, so a file cannot name anything else.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Result, column, delete, insert, literal_column, select, table

FORMAT = "tashi-pickle"
REVISION_TABLE = "alembic_version"  # kept as "schema", made by the migrations
SEQUENCES = "sqlite_sequence"  # the last id of each AUTOINCREMENT table
Doc = dict[str, Any]


def dump(conn: Connection) -> Doc:
    """Every row of the database on ``conn`` (read inside its transaction)."""
    revision = conn.scalar(select(column("version_num")).select_from(table(REVISION_TABLE)))
    tables: Doc = {}
    for name in _tables(conn):
        result: Result[Any] = conn.execute(select(literal_column("*")).select_from(table(name)))
        tables[name] = {"columns": list(result.keys()), "rows": [tuple(r) for r in result]}
    return {"format": FORMAT, "schema": revision, "tables": tables}


def load(conn: Connection, doc: Doc) -> None:
    """Insert the rows of ``doc`` into the empty database on ``conn``, which must be at
    the revision ``doc["schema"]`` (its rows made by migrations are replaced by the
    saved ones). ValueError naming a table or column it does not have;
    foreign keys are checked when the caller's transaction commits."""
    known = set(_tables(conn))
    conn.exec_driver_sql("PRAGMA defer_foreign_keys = ON")  # any order of tables
    for name, saved in sorted(doc["tables"].items(), key=lambda t: t[0] == SEQUENCES):
        columns, rows = list(saved["columns"]), list(saved["rows"])
        if name not in known or not set(columns) <= _columns(conn, name):
            raise ValueError(f"the database has no table {name!r} with columns {columns!r}")
        # the saved rows replace any the migrations seeded (usage_closing's one row);
        # sqlite_sequence last: the saved ids, not those the inserts above left
        conn.execute(delete(table(name)))
        if rows:
            conn.execute(insert(table(name, *(column(c) for c in columns))),
                         [dict(zip(columns, r, strict=True)) for r in rows])


def _tables(conn: Connection) -> list[str]:
    """The tables holding data: all but the revision and sqlite's own (ids excepted)."""
    names = conn.exec_driver_sql(
        "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").scalars()
    return [n for n in names
            if n != REVISION_TABLE and (not n.startswith("sqlite_") or n == SEQUENCES)]


def _columns(conn: Connection, name: str) -> set[str]:
    return set(conn.exec_driver_sql("SELECT name FROM pragma_table_info(?)", (name,)).scalars())
