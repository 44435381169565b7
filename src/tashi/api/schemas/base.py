"""Shared pieces of the wire schemas: the base model, errors, ids and names."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    WithJsonSchema,
)

from tashi.domain import imagerefs
from tashi.domain.errors import InvalidInput
from tashi.domain.names import (
    IMAGE_MAX_LENGTH,
    IMAGE_PATTERN,
    NAME_PATTERN,
    check_image_name,
    check_name,
)

MAX_ID = 2**63 - 1  # ids are 64-bit integers in every store
#: The header of a listing's full page: the cursor of the next (``after``; tashi.api.listing).
NEXT_AFTER = "X-Next-After"


def checked(check: Callable[[str], str]) -> Callable[[str], str]:
    """Our own name rules, their message kept (pydantic reports ValueErrors)."""

    def validate(value: str) -> str:
        try:
            return check(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None

    return validate


NAME_SCHEMA = WithJsonSchema({"type": "string", "pattern": NAME_PATTERN, "maxLength": 63})
InstanceName = Annotated[str, AfterValidator(checked(partial(check_name, "instance"))),
                         NAME_SCHEMA]
HostName = Annotated[str, AfterValidator(checked(partial(check_name, "host"))), NAME_SCHEMA]
NetworkName = Annotated[str, AfterValidator(checked(partial(check_name, "network"))),
                        NAME_SCHEMA]
UserName = Annotated[str, AfterValidator(checked(partial(check_name, "user"))), NAME_SCHEMA]
GroupName = Annotated[str, AfterValidator(checked(partial(check_name, "group"))), NAME_SCHEMA]
MAX_COUNT = 1000  # instances per create
ImageName = Annotated[str, AfterValidator(checked(check_image_name)),
                      WithJsonSchema({"type": "string", "pattern": IMAGE_PATTERN,
                                      "maxLength": IMAGE_MAX_LENGTH})]
#: An image as users name it: ``NAME`` (theirs, else a public one) or ``OWNER/NAME``.
ImageRef = Annotated[str, AfterValidator(checked(imagerefs.check_key)),
                     WithJsonSchema({"type": "string", "maxLength": 2 * IMAGE_MAX_LENGTH,
                                     "description": "NAME or OWNER/NAME"})]
#: Integers and booleans of request bodies: JSON ``true``, ``"2"`` or ``1e3`` is no
#: integer, ``1`` or ``"yes"`` no boolean (pydantic would otherwise coerce them).
Int = Annotated[int, Strict()]
Bool = Annotated[bool, Strict()]


class Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ErrorOut(Wire):
    error: str = Field(description="machine-readable code, e.g. not_found")
    message: str = Field(description="one readable line saying what went wrong")


#: Every route may answer these, always as an :class:`ErrorOut`.
ERROR_RESPONSES: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorOut} for status in (400, 401, 403, 404, 409, 413, 422, 429, 503)
}


# --- instances -----------------------------------------------------------------------


