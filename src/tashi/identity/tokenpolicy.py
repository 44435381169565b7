"""What a token made with a token may be.

- It never outlives the token that made it: its expiry is clamped to that token's (a
  request for no expiry, or a later one, gets the caller's token's expiry; the answer's
  ``expires_at`` says which). Clamping, not refusing: a client cannot ask for "what I
  have left" exactly, as that shrinks while the request travels.
- An admin may restrict token creation to password logins (setting
  ``tokens.password_login_only``): then ``POST /tokens`` is refused (403) for everyone,
  admins too, and new tokens come from ``POST /login`` only, whose lifetime is what was
  asked. Tokens made when users are created are not affected.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from tashi.domain.errors import Forbidden
from tashi.domain.models import User
from tashi.store.base import Store

log = logging.getLogger(__name__)

SETTING = "tokens.password_login_only"
_ON = "true"


def expiry(now: datetime, expires_in_s: int | None,
           ceiling: datetime | None) -> datetime | None:
    """When a token asked to live ``expires_in_s`` seconds (None: forever) from ``now``
    expires, made with a token expiring at ``ceiling`` (None: never)."""
    wanted = None if expires_in_s is None else now + timedelta(seconds=expires_in_s)
    if ceiling is None:
        return wanted
    return ceiling if wanted is None else min(wanted, ceiling)


class TokenPolicy:
    def __init__(self, store: Store) -> None:
        self._store = store

    @property
    def password_login_only(self) -> bool:
        return self._store.get_setting(SETTING) == _ON

    def set_password_login_only(self, caller: User, on: bool) -> None:
        if not caller.is_admin:
            raise Forbidden(f"user {caller.name} is not an admin")
        self._store.put_setting(SETTING, _ON if on else "")
        log.info("token creation %s by %s", "restricted to password logins" if on
                 else "open to every token holder", caller.name)

    def check_token_made_token(self, user: User) -> None:
        """Forbidden if tokens may be made by password logins only."""
        if self.password_login_only:
            raise Forbidden(f"user {user.name}: on this cluster, tokens are made by password "
                            "logins only (tashi login)")
