"""Quotas, as users and admins ask for them: who may see and set whose.

The rule of what counts, and its check, are :mod:`tashi.domain.quotas`; the store
enforces it in the transactions that create and resume instances
(:mod:`tashi.store.sql.quotas`), so nothing here stands between a request and its
check. A user sees its own quota, with what it uses; admins see and set anyone's.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from tashi.domain.errors import Forbidden, InvalidInput
from tashi.domain.models import Principal
from tashi.domain.names import check_name
from tashi.domain.quotas import Quota, QuotaField, amount
from tashi.identity.access import require_admin, require_user
from tashi.store.base import Store

log = logging.getLogger(__name__)


class QuotaService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def show(self, principal: Principal, user: str | None = None) -> Quota:
        """``user``'s quota (default: the caller's); only admins see another's."""
        me = require_user(principal)
        name = me.name if user is None else user
        if name != me.name and not me.is_admin:
            raise Forbidden(f"user {me.name} may see only its own quota, not {name}'s")
        return self._store.get_quota(check_name("user", name))

    def list(self, principal: Principal) -> list[Quota]:
        """Every user with a limit (admins)."""
        require_admin(principal)
        return self._store.list_quotas()

    def set(self, principal: Principal, user: str,
            changes: Mapping[QuotaField, int | None]) -> Quota:
        """Set the limits named in ``changes`` (None: no limit), keep the others (admins)."""
        admin = require_admin(principal)
        if not changes:
            raise InvalidInput(f"quota of {user}: nothing to set; name a limit "
                               f"({', '.join(QuotaField)})")
        quota = self._store.set_quota(check_name("user", user), changes)
        log.info("quota of user %s: %s, set by %s", user, _said(changes), admin.name)
        return quota

    def delete(self, principal: Principal, user: str) -> Quota:
        """Remove every limit of ``user`` (admins)."""
        admin = require_admin(principal)
        quota = self._store.delete_quota(check_name("user", user))
        log.info("quota of user %s: every limit removed by %s", user, admin.name)
        return quota


def _said(changes: Mapping[QuotaField, int | None]) -> str:
    return ", ".join(f"{f}: no limit" if v is None else amount(f, v)
                     for f, v in changes.items())
