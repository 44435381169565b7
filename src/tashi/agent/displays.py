"""The agent's side of a VM's display: the VNC and screenshot requests in the desired
state, carried out by the driver (:class:`~tashi.agent.drivers.base.Vnc`) and answered
to the manager with their numbers (see :mod:`tashi.manager.displays`).

Level-triggered: every converge pass hands over the whole desired state; a request is
started once (one at a time per instance and kind) and, once answered, not again. An
answer the manager did not get (it was unreachable) is not remembered, so the request
is carried out again on a later pass: opening VNC twice with one password, or taking a
second screenshot, does no harm. The password is never logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Iterable
from functools import partial
from typing import Any

from tashi.agent.drivers.base import Vnc
from tashi.client import TashiClient
from tashi.domain.desired import DesiredInstance
from tashi.domain.errors import DriverError, TashiError

log = logging.getLogger(__name__)
Key = tuple[int, str]  # (instance id, "vnc" or "screenshot")


class DisplayKeeper:
    def __init__(self, client: TashiClient, host: str, driver: Vnc) -> None:
        self._client = client
        self._host = host
        self._driver = driver
        self._tasks: dict[Key, asyncio.Task[None]] = {}
        self._answered: dict[Key, int] = {}  # the last request answered, per instance and kind

    def take(self, desired: Iterable[DesiredInstance]) -> None:
        """Start what the desired state asks and is neither under way nor answered."""
        wanted: set[int] = set()
        for d in desired:
            wanted.add(d.id)
            asked = d.display
            if asked is None:
                continue
            if asked.vnc:
                self._start((d.id, "vnc"), asked.vnc, partial(
                    self._vnc, d, asked.vnc, asked.vnc_open, asked.vnc_password))
            if asked.screenshot:
                self._start((d.id, "screenshot"), asked.screenshot,
                            partial(self._screenshot, d, asked.screenshot))
        for key in [k for k in self._answered if k[0] not in wanted]:
            del self._answered[key]

    def _start(self, key: Key, number: int,
               make: Callable[[], Coroutine[Any, Any, None]]) -> None:
        if key in self._tasks or self._answered.get(key, 0) >= number:
            return
        task = asyncio.create_task(make(), name=f"{key[1]}-{key[0]}-{number}")
        self._tasks[key] = task
        task.add_done_callback(lambda t: self._done(key, number, t))

    def _done(self, key: Key, number: int, task: asyncio.Task[None]) -> None:
        self._tasks.pop(key, None)
        if task.cancelled():
            return
        exc = task.exception()
        if isinstance(exc, TashiError):  # the answer did not reach the manager: again later
            log.warning("instance %d: %s request %d not answered: %s", key[0], key[1], number,
                        exc.message)
            return
        if exc is not None:  # a bug: said once, not retried on every pass
            log.error("instance %d: %s request %d failed", key[0], key[1], number,
                      exc_info=exc)
        self._answered[key] = number

    async def _vnc(self, d: DesiredInstance, number: int, open_it: bool, password: str) -> None:
        host, port, error = "", 0, ""
        try:
            if open_it:
                endpoint = await self._driver.open_vnc(d.id, password)
                host, port = endpoint.host, endpoint.port
            else:
                await self._driver.close_vnc(d.id)
        except DriverError as exc:
            error = exc.message
            log.warning("instance %d (%s): VNC request %d failed: %s", d.id, d.name, number,
                        error)
        await self._client.answer_vnc(self._host, d.id, number, vnc_host=host, port=port,
                                      error=error)

    async def _screenshot(self, d: DesiredInstance, number: int) -> None:
        png, error = None, ""
        try:
            png = await self._driver.screenshot(d.id)
        except DriverError as exc:
            error = exc.message
            log.warning("instance %d (%s): screenshot %d failed: %s", d.id, d.name, number,
                        error)
        await self._client.answer_screenshot(self._host, d.id, number, png=png, error=error)

    async def close(self) -> None:
        """Cancel what is under way (the manager's callers time out; nothing is lost)."""
        for task in list(self._tasks.values()):
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
