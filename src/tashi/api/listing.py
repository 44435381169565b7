"""What the listings of instances and hosts share: their query parameters, and their
answers, paged.

An answer is a JSON list, as it always was (so clients that know no paging work on):
dumped at once by one :class:`pydantic.TypeAdapter` of the list (never validated again
as FastAPI does a returned value; ``response_model`` documents it). When a page is full
(``limit`` records), another may follow: the answer then says where, in the headers
``X-Next-After`` (the cursor, for ``after``) and ``Link: <...>; rel="next"`` (this
request's URL with that ``after``). An answer without them is the last page.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any, TypeVar

from fastapi import Query, Request, Response

from tashi.api.schemas import NEXT_AFTER
from tashi.domain.errors import InvalidInput
from tashi.manager.listing import MAX_PAGE

E = TypeVar("E", bound=StrEnum)

#: ``state=Running&state=Pending`` or ``state=Running,Pending``.
States = Annotated[list[str] | None, Query(
    description="states (repeated, or separated by commas); any of them")]
Limit = Annotated[int | None, Query(ge=1, le=MAX_PAGE, description=(
    "at most this many (a page); null: all"))]

#: The OpenAPI description of a paged answer's headers.
PAGED: dict[int | str, dict[str, Any]] = {200: {"headers": {
    NEXT_AFTER: {"description": "the page is full: pass this as after for the next one",
                  "schema": {"type": "string"}},
    "Link": {"description": 'the next page\'s URL, as <URL>; rel="next"',
             "schema": {"type": "string"}},
}}}


def states_of(values: Sequence[str] | None, kind: type[E], what: str) -> frozenset[E] | None:
    """The states ``values`` name (None: none asked); InvalidInput naming one unknown."""
    if values is None:
        return None
    names = [v.strip() for value in values for v in value.split(",") if v.strip()]
    if not names:
        raise InvalidInput(f"state: no {what} state given")
    known = {s.value: s for s in kind}
    for name in names:
        if name not in known:
            raise InvalidInput(f"state: {what} state {name!r} is unknown; "
                               f"one of {', '.join(known)}")
    return frozenset(known[n] for n in names)


def paged(request: Request, body: bytes, next_after: str | None) -> Response:
    """The answer ``body`` (a JSON list); ``next_after``: the cursor of the next page,
    if another may follow."""
    headers = {}
    if next_after is not None:
        url = request.url.include_query_params(after=next_after)
        headers = {NEXT_AFTER: next_after, "Link": f'<{url.path}?{url.query}>; rel="next"'}
    return Response(body, media_type="application/json", headers=headers)
