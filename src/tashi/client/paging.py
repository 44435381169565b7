"""The client's side of paged listings (instances, hosts; see :mod:`tashi.api.listing`):
the filters a listing takes, its query string, and walking every page.

A page is a JSON list; a full one carries the cursor of the next in its
``X-Next-After`` header, which goes back as ``after``. No header: the last page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import TypedDict, TypeVar

T = TypeVar("T")
PAGE_SIZE = 1000  # records per page when walking them all

#: A fetch of the page after the cursor given (None: the first), and the next cursor.
Fetch = Callable[[str | None], Awaitable[tuple[list[T], str | None]]]


class InstanceFilters(TypedDict, total=False):
    """Conditions on the instances listed; each one given (not None) must hold."""

    state: str | Sequence[str] | None  # any of these states
    host: str | None
    owner: str | None  # users: only their own
    name: str | None  # the start of their names
    network: str | None  # one of their NICs is on it


class HostFilters(TypedDict, total=False):
    """Conditions on the hosts listed (None: not asked)."""

    state: str | Sequence[str] | None  # any of these states (Normal, Drained...)


def query_of(filters: Mapping[str, object], *, limit: int | None,
             after: object | None) -> list[tuple[str, str]]:
    """The query string's pairs: a sequence of states as one ``state`` each."""
    pairs: list[tuple[str, str]] = []
    for key, value in {**filters, "limit": limit, "after": after}.items():
        if value is None:
            continue
        pairs.extend((key, str(v)) for v in _each(value))
    return pairs


def _each(value: object) -> list[object]:
    """A sequence's items, or the one value."""
    if isinstance(value, str) or not isinstance(value, Iterable):
        return [value]
    return list(value)


async def every(fetch: Fetch[T]) -> AsyncIterator[T]:
    """Every record of every page, first to last, each page fetched when reached."""
    after: str | None = None
    while True:
        page, after = await fetch(after)
        for record in page:
            yield record
        if after is None:
            return
