"""``tashi``: the root group, its global options, and the groups under it (each in
:mod:`tashi.cli`).

A command's module is imported only when that command runs (``--help`` lists the
commands from a table): ``tashi --version`` imports click and nothing of the client,
``tashi vm list`` the ``vm`` group's module and what it uses. ``--json`` is taken
before and after the command's name (``tashi --json vm list`` and ``tashi vm list
--json``); under it, errors are JSON too (:mod:`tashi.cmd.errors`).
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from tashi import __version__
from tashi.cmd.errors import JSON_KEY, translated

# Start-up time (a CLI call should take under 0.3 s): work nothing here uses. Pydantic
# looks for plugins in every installed package's metadata (~5 ms); Tashi uses none.
# httpx imports its own command line (rich, pygments: ~45 ms) when rich is installed
# (the test tools bring it); with that module marked missing, httpx skips it.
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]

#: Each command of the root group: its module, its name there, and the start of its help
#: (what ``tashi --help`` lists, without importing every command's module for it).
COMMANDS: dict[str, tuple[str, str, str]] = {
    "vm": ("tashi.cli.vm", "vm", "Virtual machines (instances)"),
    "host": ("tashi.cli.host", "host", "Hosts (admins only)"),
    "image": ("tashi.cli.image", "image", "Disk images"),
    "network": ("tashi.cli.network", "network", "Networks"),
    "user": ("tashi.cli.user", "user", "Users (admins only), and passwords"),
    "token": ("tashi.cli.token", "token", "API tokens: create, list, revoke"),
    "quota": ("tashi.cli.quota", "quota",
              "Quotas: per-user limits (set by admins; each user sees their own)"),
    "login": ("tashi.cli.login", "login",
              "Save the manager's URL and an API token in the config file"),
    "whoami": ("tashi.cli.whoami", "whoami", "Who the manager takes you for"),
    "version": ("tashi.cli.whoami", "version", "This command line's version and the manager's"),
    "slots": ("tashi.cli.capacity", "slots", "How many more of your instances of a size fit"),
    "layout": ("tashi.cli.capacity", "layout",
               "Per host: its instances and used/total cores and memory (admins)"),
    "plan": ("tashi.cli.plan", "plan", "Plan offline: what fits on a cluster described here"),
    "events": ("tashi.cli.events", "events", "List events, oldest first"),
    "usage": ("tashi.cli.usage", "usage",
              "Usage reports: allocated and used, per hour, day or month"),
    "up": ("tashi.cli.up", "up", "Run a whole cluster here: manager, this host's agent, "
           "scheduler"),
}
#: Commands that print no results, so take no ``--json`` of their own.
WITHOUT_JSON = frozenset({"up"})


def _json_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    """``--json`` after a command's name: the session's ``json`` for this command."""
    if not value:
        return
    ctx.meta[JSON_KEY] = True
    from dataclasses import replace

    from tashi.cli.session import Session

    session = ctx.find_object(Session)
    if session is not None:
        ctx.obj = replace(session, json=True)


def with_json_option(command: click.Command) -> click.Command:
    """``command`` (each command of a group, recursively) taking ``--json`` too, unless
    it has a ``--json`` of its own."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            with_json_option(sub)
        return command
    if not any("--json" in getattr(p, "opts", ()) for p in command.params):
        command.params.append(click.Option(
            ["--json"], is_flag=True, expose_value=False, is_eager=True,
            callback=_json_flag, help="Print JSON instead of tables (errors too)."))
    return command


class Root(click.Group):
    """Turns expected errors into one line (JSON under ``--json``); imports a command's
    module only when it is asked for."""

    def invoke(self, ctx: click.Context) -> Any:
        with translated(lambda: bool(ctx.meta.get(JSON_KEY))):
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self.commands:
            module, name, _ = COMMANDS[cmd_name]
            command = getattr(importlib.import_module(module), name)
            if cmd_name not in WITHOUT_JSON:
                command = with_json_option(command)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The commands and what they are for, from :data:`COMMANDS` (no imports)."""
        rows = [(name, COMMANDS[name][2] if name in COMMANDS
                 else (self.commands[name].get_short_help_str()))
                for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", metavar="URL", help="The manager's URL, or its replicas' separated "
              "by commas (env TASHI_URL; config file).")
@click.option("--token", metavar="TOKEN", help="Your API token (env TASHI_TOKEN; config file).")
@click.option("--json", "as_json", is_flag=True,
              help="Print JSON instead of tables, errors too (also after the command).")
@click.version_option(__version__, prog_name="tashi")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None, as_json: bool) -> None:
    """Tashi: hand out virtual machines from a cluster of hosts."""
    from tashi.cli.session import Session

    if as_json:
        ctx.meta[JSON_KEY] = True
    ctx.obj = Session(url=url, token=token, json=as_json)


if __name__ == "__main__":
    main()
