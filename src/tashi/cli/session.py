"""The global options of one ``tashi`` run, and the one place that runs client calls."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import click

from tashi.cli.config import Target, resolve

if TYPE_CHECKING:
    from tashi.client import TashiClient

T = TypeVar("T")


@dataclass(frozen=True)
class Session:
    """What the root group's ``--url``, ``--token`` and ``--json`` said."""

    url: str | None = None
    token: str | None = None
    json: bool = False

    def target(self) -> Target:
        """Resolved when a command runs, so ``--help`` never reads the config file."""
        return resolve(self.url, self.token)

    def call(self, fn: Callable[[TashiClient], Coroutine[Any, Any, T]], *,
             target: Target | None = None) -> T:
        """Run ``fn`` with a client of ``target`` (default: the resolved one) to completion."""
        from tashi.client import TashiClient  # the wire schemas: not for --help

        to = target or self.target()

        async def run() -> T:
            async with TashiClient(to.url, to.token, verify=to.ca or True) as client:
                return await fn(client)

        return asyncio.run(run())


pass_session = click.make_pass_decorator(Session)
