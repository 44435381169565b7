"""Usage reports, as users and admins ask for them: who may see whose.

What a report sums, and how it pages, is :mod:`tashi.domain.usage_reports`; the store
answers it (:meth:`tashi.store.base.Store.usage_report`). A user sees their own usage
only (a report naming no user is theirs); admins see everyone's.
"""

from __future__ import annotations

from dataclasses import replace

from tashi.domain.errors import Forbidden
from tashi.domain.models import Principal
from tashi.domain.usage_reports import UsagePage, UsageQuery
from tashi.identity.access import require_user
from tashi.store.base import Store


class UsageReportService:
    def __init__(self, store: Store) -> None:
        self._store = store

    def report(self, principal: Principal, query: UsageQuery) -> UsagePage:
        """One page of ``query``'s report; a user's is narrowed to their own usage."""
        me = require_user(principal)
        if not me.is_admin:
            if query.user is not None and query.user != me.name:
                raise Forbidden(f"user {me.name} may see only its own usage, "
                                f"not {query.user}'s")
            query = replace(query, user=me.name)
        return self._store.usage_report(query)
