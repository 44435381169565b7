"""Users, passwords, logins and API tokens."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Annotated

from pydantic import (
    AfterValidator,
    Field,
    PlainSerializer,
    SecretStr,
    StrictBool,
    WithJsonSchema,
)

from tashi.api.schemas.base import (
    NAME_SCHEMA,
    Int,
    UserName,
    Wire,
    checked,
)
from tashi.common.passwords import MAX_LENGTH as PASSWORD_MAX
from tashi.common.passwords import MIN_LENGTH as PASSWORD_MIN
from tashi.common.passwords import check_password
from tashi.domain.names import (
    check_name,
)
from tashi.domain.states import Role


def _new_password(value: SecretStr) -> SecretStr:
    checked(check_password)(value.get_secret_value())
    return value


_PASSWORD_SCHEMA = {"type": "string", "format": "password", "writeOnly": True}
_REVEALED = PlainSerializer(lambda v: v.get_secret_value(), return_type=str, when_used="json")
#: A password: hidden in repr and logs, sent as itself in JSON.
NewPassword = Annotated[SecretStr, AfterValidator(_new_password), _REVEALED, WithJsonSchema(
    {**_PASSWORD_SCHEMA, "minLength": PASSWORD_MIN, "maxLength": PASSWORD_MAX})]
GivenPassword = Annotated[SecretStr, Field(max_length=PASSWORD_MAX), _REVEALED,
                          WithJsonSchema({**_PASSWORD_SCHEMA, "maxLength": PASSWORD_MAX})]
TokenName = Annotated[str, AfterValidator(checked(partial(check_name, "token"))), NAME_SCHEMA]
MAX_TOKEN_LIFETIME_S = 10 * 365 * 86400
TokenLifetime = Annotated[Int | None, Field(ge=1, le=MAX_TOKEN_LIFETIME_S,
                                            description="seconds; none: never expires")]


SourceName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,31}$")]


class UserCreate(Wire):
    name: UserName
    role: Role = Role.USER
    password: NewPassword | None = Field(default=None, description="to log in with (optional)")
    source: SourceName = Field(default="local", description=(
        "local: Tashi's own user; or a configured user source (system, ldap) that must "
        "know the name and keeps its password; its admin group, if set, decides the role"))


class UserOut(Wire):
    name: str
    role: Role
    created_at: datetime
    source: str = "local"


class UserCredentialOut(Wire):
    user: UserOut
    token: str = Field(description="an API token for the new user; shown once")


class PasswordIn(Wire):
    password: NewPassword
    current_password: GivenPassword | None = Field(
        default=None, description="needed to change your own (admins: not needed)")


class LoginIn(Wire):
    user: str = Field(max_length=63)
    password: GivenPassword
    token_name: TokenName | None = Field(default=None, description="default: login-<time>")
    expires_in_s: TokenLifetime = None


class TokenCreate(Wire):
    name: TokenName
    expires_in_s: TokenLifetime = None


class TokenOut(Wire):
    id: int
    name: str
    user: str | None = Field(description="whose it is (none: a host agent's credential)")
    created_at: datetime
    expires_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="the API token; shown once")


class TokenSettings(Wire):
    password_login_only: StrictBool = Field(description=(
        "true: tokens are made by password logins only (POST /login); POST /tokens is "
        "refused (403), for admins too"))


# --- agents ------------------------------------------------------------------------------




class WhoAmIOut(Wire):
    kind: str
    name: str
    role: Role | None
