"""A ``tashi`` call imports only what it uses (start-up time; benchmarks/cli_start.py
has the figures): ``--version`` and ``--help`` none of the client's stack, a call none
of the manager's, and only the wire schemas it reads."""

from __future__ import annotations

import ast
import importlib
import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from tashi.api import schemas
from tashi.cmd.cli import COMMANDS, main

#: Print which modules a ``tashi`` run (its arguments: ours) imported, as it exits.
PROGRAM = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(n for n, m in sys.modules.items() if m)),
                              file=sys.stderr))
from tashi.cmd.cli import main
sys.argv = ["tashi", *sys.argv[1:]]
main()
"""
SERVER_SIDE = ("sqlalchemy", "alembic", "fastapi", "starlette", "uvicorn", "psycopg",
               "argon2", "ldap3", "cryptography", "tashi.store", "tashi.manager",
               "tashi.identity", "tashi.api.routes", "tashi.scheduler")


def imported(tmp_path: Path, *args: str) -> set[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TASHI_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    done = subprocess.run([sys.executable, "-c", PROGRAM, *args], capture_output=True,
                          text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
    modules: list[str] = json.loads(done.stderr.splitlines()[-1])
    return set(modules)


def under(modules: set[str], *packages: str) -> set[str]:
    return {m for m in modules if any(m == p or m.startswith(p + ".") for p in packages)}


@pytest.mark.parametrize("args", [["--version"], ["--help"]])
def test_version_and_help_import_no_client(tmp_path: Path, args: list[str]) -> None:
    modules = imported(tmp_path, *args)
    assert under(modules, "httpx", "pydantic", "asyncio", "tashi.client",
                 "tashi.api", *SERVER_SIDE) == set()


def test_a_call_imports_the_schemas_it_reads_only(tmp_path: Path) -> None:
    modules = imported(tmp_path, "--url", "http://127.0.0.1:1", "vm", "list")
    assert "tashi.client.client" in modules  # it did call (and failed to reach) a manager
    assert under(modules, *SERVER_SIDE) == set()
    assert under(modules, "tashi.api.schemas") == {
        "tashi.api.schemas", "tashi.api.schemas.base", "tashi.api.schemas.instances",
        "tashi.api.schemas.usage",  # an instance's usage figures
        "tashi.api.schemas.migration"}  # and its migration
    assert under(modules, "rich", "pygments") == set()  # httpx's own CLI


def test_the_help_table_says_what_each_command_does() -> None:
    """``tashi --help`` lists each command from a table: its words are the command's."""
    for name, (module, attr, short) in COMMANDS.items():
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command), name
        assert " ".join((command.help or "").split()).startswith(short), name
    listed = CliRunner().invoke(main, ["--help"]).stdout.split("Commands:")[1]
    assert [line.split()[0] for line in listed.strip().splitlines()] == sorted(COMMANDS)


def test_the_client_names_wire_types_at_run_time_through_the_package() -> None:
    """The client imports the wire types for the type checker only (so that a call loads
    just the ones it reads): anything else than an annotation must say ``wire.X``, or it
    is a NameError at run time that no type checker sees."""
    from tashi.client import client

    tree = ast.parse(Path(client.__file__).read_text(encoding="utf-8"))
    checker_only = {alias.asname or alias.name for node in ast.walk(tree)
                    if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
                    for imp in node.body if isinstance(imp, ast.ImportFrom)
                    for alias in imp.names}
    assert "InstanceOut" in checker_only
    annotations = {id(n) for fn in ast.walk(tree)
                   if isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef)
                   for a in [fn.returns, *(x.annotation for x in
                                           [*fn.args.args, *fn.args.kwonlyargs])]
                   if a is not None for n in ast.walk(a)}
    misused = sorted((n.lineno, n.id) for n in ast.walk(tree) if isinstance(n, ast.Name)
                     and n.id in checker_only and id(n) not in annotations)
    assert misused == []


def test_every_schema_name_resolves() -> None:
    """The package's table (its imports for the type checker) names every export."""
    for name in schemas.__all__:
        assert getattr(schemas, name) is not None, name
    with pytest.raises(AttributeError):
        _ = schemas.NoSuchSchema  # type: ignore[attr-defined]
