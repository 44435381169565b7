"""Console streaming: the agent sends each VM's console tail to the manager as soon as
it changes (checked every :data:`CONSOLE_POLL_S`), apart from the reports, so a user
following a console sees new lines within a fraction of a second, and reports carry
only what changed in the VMs' states.

Reading a tail is a file read (no guest is touched); only changed tails are sent. A
failed send is retried with every tail on the next round (the manager may have missed
any of them).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Collection

from tashi.agent.drivers.base import Console
from tashi.client import TashiClient
from tashi.domain.errors import TashiError

log = logging.getLogger(__name__)

CONSOLE_POLL_S = 0.25
CONSOLE_TAIL_BYTES = 16 * 1024


class ConsoleStreamer:
    """Sends the console tails of ``instances()`` (the ids wanted on this host)."""

    def __init__(self, client: TashiClient, host: str, consoles: Console,
                 instances: Callable[[], Collection[int]], *,
                 poll_s: float = CONSOLE_POLL_S) -> None:
        self._client = client
        self._host = host
        self._consoles = consoles
        self._instances = instances
        self._poll_s = poll_s
        self._sent: dict[int, str] = {}

    async def run(self) -> None:
        while True:
            await self.send_changed()
            await asyncio.sleep(self._poll_s)

    async def send_changed(self) -> int:
        """Send the tails that changed since they were last sent; how many were."""
        wanted = set(self._instances())
        for gone in self._sent.keys() - wanted:
            del self._sent[gone]
        changed: dict[int, str] = {}
        for instance_id in sorted(wanted):
            text = await self._consoles.console(instance_id, CONSOLE_TAIL_BYTES)
            if text and self._sent.get(instance_id) != text:
                changed[instance_id] = text
        if not changed:
            return 0
        try:
            await self._client.put_consoles(self._host, changed)
        except TashiError as exc:
            log.warning("host %s: console update failed: %s", self._host, exc.message)
            self._sent.clear()  # resend all next round
            return 0
        self._sent.update(changed)
        return len(changed)
