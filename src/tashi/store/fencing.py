"""Fenced writes: the writes of a replica's leader work carry its lease's token.

While a :class:`~tashi.domain.leases.Fence` is set in the current context (see
:func:`fenced` and :func:`fenced_context`), every write transaction of a store begins by
checking, inside that same transaction, that the lease still has that holder and token
and has not expired; otherwise it raises :class:`~tashi.domain.errors.LeaseLost` and
writes nothing. On PostgreSQL the check reads the lease row ``FOR SHARE``: a replica
taking the lease over (an ``UPDATE`` of that row) waits until every fenced transaction
under way has ended, and a fenced transaction that begins after the takeover sees the
new token. So a write of the old holder lands before the new holder's acquisition, or
not at all. sqlite's write transactions (and the pickle store's) run one at a time, which
gives the same order.

The fence is a :mod:`contextvars` variable: an asyncio task started in a fenced context
keeps it, and ``asyncio.to_thread`` carries it into the thread that calls the store.
Reads are never fenced.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator

from tashi.domain.leases import Fence

_FENCE: contextvars.ContextVar[Fence | None] = contextvars.ContextVar("tashi_fence",
                                                                     default=None)


def current_fence() -> Fence | None:
    """The fence of the writes made in this context (None: not fenced)."""
    return _FENCE.get()


@contextlib.contextmanager
def fenced(fence: Fence) -> Iterator[None]:
    """Fence the store writes made in this block (in this thread or task)."""
    reset = _FENCE.set(fence)
    try:
        yield
    finally:
        _FENCE.reset(reset)


def fenced_context(fence: Fence) -> contextvars.Context:
    """A copy of the current context with ``fence`` set, to start tasks in
    (``asyncio.create_task(..., context=...)``)."""
    context = contextvars.copy_context()
    context.run(_FENCE.set, fence)
    return context
