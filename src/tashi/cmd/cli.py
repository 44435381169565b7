"""``tashi``: the root group, its global options, and the groups under it (each in
:mod:`tashi.cli`)."""

from __future__ import annotations

from typing import Any

import click

from tashi import __version__
from tashi.cli.capacity import layout, slots
from tashi.cli.events import events
from tashi.cli.host import host
from tashi.cli.image import image
from tashi.cli.login import login
from tashi.cli.network import network
from tashi.cli.plan import plan
from tashi.cli.session import Session
from tashi.cli.token import token
from tashi.cli.user import user
from tashi.cli.vm import vm
from tashi.cmd.errors import translated

LAZY = ("up",)


class Root(click.Group):
    """Turns expected errors into one line; imports ``tashi up`` only when asked for."""

    def invoke(self, ctx: click.Context) -> Any:
        with translated():
            return super().invoke(ctx)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name == "up" and "up" not in self.commands:
            from tashi.cli.up import up

            self.add_command(up)
        return super().get_command(ctx, cmd_name)


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--url", metavar="URL", help="The manager's URL (env TASHI_URL; config file).")
@click.option("--token", metavar="TOKEN", help="Your API token (env TASHI_TOKEN; config file).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of tables.")
@click.version_option(__version__, prog_name="tashi")
@click.pass_context
def main(ctx: click.Context, url: str | None, token: str | None, as_json: bool) -> None:
    """Tashi: hand out virtual machines from a cluster of hosts."""
    ctx.obj = Session(url=url, token=token, json=as_json)


for command in (vm, host, image, network, user, token, login, slots, layout, plan, events):
    main.add_command(command)


if __name__ == "__main__":
    main()
