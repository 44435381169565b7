"""A thin async layer over ``qemu.qmp``: connect, execute one command, disconnect.

One short connection per command: QEMU's QMP socket serves one client at a
time, and a connection held open would block the next agent after a restart.
Every failure becomes a DriverError with the cause chained.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from qemu.qmp import ExecInterruptedError, QMPClient, QMPError

from tashi.domain.errors import DriverError

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


async def qmp_execute(
    socket: Path,
    command: str,
    arguments: Mapping[str, object] | None = None,
    *,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    client_name: str | None = None,
) -> object:
    """Run ``command`` on the QMP server at ``socket`` and return its result.

    ``timeout_s`` bounds connecting and executing together. A ``quit`` may lose
    its reply when QEMU exits first: that counts as success."""
    client = QMPClient(client_name)
    try:
        async with asyncio.timeout(timeout_s):
            await client.connect(str(socket))
            return await client.execute(command, arguments)
    except ExecInterruptedError as exc:
        if command == "quit":
            return {}
        raise DriverError(f"QMP {command} on {socket}: connection lost") from exc
    except (QMPError, OSError, EOFError, TimeoutError) as exc:
        reason = f"timed out after {timeout_s} s" if isinstance(exc, TimeoutError) else exc
        raise DriverError(f"QMP {command} on {socket}: {reason}") from exc
    finally:
        await _disconnect(client, socket)


async def execute_and_wait(socket: Path, command: str, arguments: Mapping[str, object],
                           event: str, wait_s: float, *, client_name: str | None = None) -> bool:
    """Run ``command``, then wait up to ``wait_s`` for QMP event ``event``: whether it
    came. (The socket is held meanwhile: other clients wait their turn.)"""
    client = QMPClient(client_name)
    try:
        async with asyncio.timeout(DEFAULT_TIMEOUT_S):
            await client.connect(str(socket))
        with client.listener(event) as listener:
            async with asyncio.timeout(DEFAULT_TIMEOUT_S):
                await client.execute(command, arguments)
            try:
                async with asyncio.timeout(wait_s):
                    await listener.get()
            except TimeoutError:
                return False
            return True
    except (QMPError, OSError, EOFError, TimeoutError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else exc
        raise DriverError(f"QMP {command} on {socket}: {reason}") from exc
    finally:
        await _disconnect(client, socket)


class QmpSession:
    """One QMP connection held for a sequence of commands (a save, a restore: each
    command would otherwise pay for a connection and its capabilities handshake).
    Others wait for the socket meanwhile: hold it only for an operation."""

    def __init__(self, client: QMPClient, socket: Path) -> None:
        self._client = client
        self._socket = socket

    async def execute(self, command: str, arguments: Mapping[str, object] | None = None, *,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> object:
        """Run ``command``; DriverError (cause chained) on any failure."""
        try:
            async with asyncio.timeout(timeout_s):
                return await self._client.execute(command, arguments)
        except (QMPError, OSError, EOFError, TimeoutError) as exc:
            reason = f"timed out after {timeout_s} s" if isinstance(exc, TimeoutError) else exc
            raise DriverError(f"QMP {command} on {self._socket}: {reason}") from exc

    async def status(self) -> str:
        """QEMU's run state, as :func:`query_status`."""
        return _status_of(await self.execute("query-status"), self._socket)


@contextlib.asynccontextmanager
async def qmp_session(socket: Path, *, client_name: str | None = None,
                      timeout_s: float = DEFAULT_TIMEOUT_S) -> AsyncIterator[QmpSession]:
    """A :class:`QmpSession` on ``socket`` (connecting within ``timeout_s``)."""
    client = QMPClient(client_name)
    try:
        try:
            async with asyncio.timeout(timeout_s):
                await client.connect(str(socket))
        except (QMPError, OSError, EOFError, TimeoutError) as exc:
            raise DriverError(f"QMP connect to {socket}: {exc or 'timed out'}") from exc
        yield QmpSession(client, socket)
    finally:
        await _disconnect(client, socket)


async def _disconnect(client: QMPClient, socket: Path) -> None:
    """Close the connection; an end-of-file here (e.g. after ``quit``) is expected."""
    try:
        await client.disconnect()
    except (EOFError, QMPError, OSError) as exc:
        log.debug("QMP %s: disconnect: %r", socket, exc)


async def query_status(socket: Path, *, timeout_s: float = DEFAULT_TIMEOUT_S,
                       client_name: str | None = None) -> str:
    """QEMU's run state (``running``, ``paused``, ``shutdown``...)."""
    result = await qmp_execute(socket, "query-status", timeout_s=timeout_s,
                               client_name=client_name)
    return _status_of(result, socket)


def _status_of(result: object, socket: Path) -> str:
    if not isinstance(result, Mapping) or not isinstance(result.get("status"), str):
        raise DriverError(f"QMP query-status on {socket}: unexpected answer {result!r}")
    return str(result["status"])
